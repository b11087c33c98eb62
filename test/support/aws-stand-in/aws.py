# A fast stand-in for the AWS CLI (aws-cli v1, which starts in about half a second of CPU) for
# the script tests, talking to moto_server on 127.0.0.1. It answers exactly the invocations the
# on-instance scripts make, and nothing else: any other command line, any other endpoint, any
# answer it does not model (a binary secret; for CloudWatch Logs: anything but success) runs the
# real CLI with the same arguments (and the same standard input).
# test/aws-stand-in.test.ts proves, against the real CLI and moto_server, that for these
# invocations it prints the same stdout and stderr and exits with the same status.
# Written out with the real CLI's path in REAL_AWS by test/support/aws-stand-in.ts.
import json
import os
import socket
import sys
import uuid

REAL_AWS = os.environ.get('AEM_KEYS_REAL_AWS', '')  # replaced when written out

# The forms used by lib/scripts (aem-keys-common.sh, export-keys.sh): fixed options and values.
FORMS = {
    'get-secret-value': {'--query': 'SecretString', '--output': 'text'},
    'put-secret-value': {'--query': 'VersionId', '--output': 'text', '--secret-string': 'file:///dev/stdin'},
}
# The CloudWatch Logs forms of aemkeys_logged (aem-keys-common.sh): answered only when they succeed.
LOGS_FORMS = {
    'create-log-stream': {},
    'put-log-events': {'--log-events': 'file:///dev/stdin'},
}
CLIENT_ERROR_STATUS = 255  # aws-cli v1 on a service error (checked by the contract test)


def real(stdin=None):
    if stdin is not None:  # what this process read from stdin goes to the real CLI's stdin
        read_end, write_end = os.pipe()
        if os.fork() == 0:
            os.close(read_end)
            os.write(write_end, stdin)
            os._exit(0)
        os.close(write_end)
        os.dup2(read_end, 0)
    os.execv(REAL_AWS, [REAL_AWS] + sys.argv[1:])


def parse_form(argv, service, forms, required):
    """(operation, options) when argv is `service operation` with exactly the options of
    forms[operation] (those values) and the required ones (any values), else None."""
    if len(argv) < 2 or argv[0] != service or argv[1] not in forms or len(argv) % 2:
        return None
    opts = {}
    for i in range(2, len(argv), 2):
        if argv[i] in opts:
            return None
        opts[argv[i]] = argv[i + 1]
    fixed = forms[argv[1]]
    if set(opts) != set(fixed) | required or any(opts[k] != v for k, v in fixed.items()):
        return None
    return argv[1], opts


def parse_logs(argv):
    """(operation, options) when argv is exactly one of LOGS_FORMS, else None."""
    return parse_form(argv, 'logs', LOGS_FORMS, {'--region', '--log-group-name', '--log-stream-name'})


class HTTPError(Exception):
    """An answer with a status of 400 or more; `body` holds its bytes."""

    def __init__(self, status, body):
        super().__init__('HTTP %d' % status)
        self.status, self.body = status, body


def post(endpoint, region, scope, target, body):
    """One JSON-protocol call to moto_server (an HTTP/1.1 POST on a socket of its own: urllib takes
    longer to import than the call takes); its answer, parsed. Raises HTTPError for an error status,
    OSError when the endpoint cannot be reached."""
    host, port = endpoint[len('http://'):].rstrip('/').split(':')
    data = json.dumps(body).encode('utf-8')
    head = '\r\n'.join([
        'POST / HTTP/1.1',
        'Host: %s:%s' % (host, port),
        'Content-Type: application/x-amz-json-1.1',
        'X-Amz-Target: ' + target,
        # moto_server routes on the credential scope; it checks no signature.
        'Authorization: AWS4-HMAC-SHA256 Credential=%s/20260101/%s/%s/aws4_request, SignedHeaders=host, Signature=0'
        % (os.environ.get('AWS_ACCESS_KEY_ID', 'testing'), region, scope),
        'Content-Length: %d' % len(data),
        'Connection: close',
        '', '',
    ]).encode('latin-1')
    with socket.create_connection((host, int(port)), timeout=60) as conn:
        conn.sendall(head + data)
        answer = b''.join(iter(lambda: conn.recv(65536), b''))
    status, body = read_response(answer)
    if status >= 400:
        raise HTTPError(status, body)
    return json.loads(body or b'{}')


def read_response(answer):
    """(status, body) of a whole HTTP/1.1 answer (Content-Length, chunked or read to the end)."""
    head, _, body = answer.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(':') for line in lines[1:])}
    if headers.get('transfer-encoding', '').lower() == 'chunked':
        chunks = []
        while True:
            size, _, body = body.partition(b'\r\n')
            size = int(size.split(b';')[0], 16)
            if size == 0:
                break
            chunks.append(body[:size])
            body = body[size + 2:]
        return status, b''.join(chunks)
    if 'content-length' in headers:
        return status, body[:int(headers['content-length'])]
    return status, body


def logs(endpoint, operation, opts):
    """Answers a LOGS_FORMS invocation when moto accepts it; any other outcome runs the real CLI."""
    stdin = sys.stdin.buffer.read() if operation == 'put-log-events' else None
    body = {'logGroupName': opts['--log-group-name'], 'logStreamName': opts['--log-stream-name']}
    try:
        if stdin is not None:
            body['logEvents'] = json.loads(stdin.decode('utf-8'))
        target = 'Logs_20140328.' + ('CreateLogStream' if operation == 'create-log-stream' else 'PutLogEvents')
        answer = post(endpoint, opts['--region'], 'logs', target, body)
    except Exception:  # an error, an unreachable endpoint, input the CLI would refuse: its own answer
        real(stdin)
    answer.pop('ResponseMetadata', None)
    if answer:
        sys.stdout.write(json.dumps(answer, indent=4, ensure_ascii=False) + '\n')


def parse(argv):
    """(operation, secret id, region) when argv is exactly one of FORMS, else None."""
    form = parse_form(argv, 'secretsmanager', FORMS, {'--secret-id', '--region'})
    return form and (form[0], form[1]['--secret-id'], form[1]['--region'])


def call(endpoint, region, operation, body):
    """A Secrets Manager call; a service error is printed as the CLI prints it, with its status."""
    try:
        return post(endpoint, region, 'secretsmanager', 'secretsmanager.' + operation, body)
    except HTTPError as e:
        error = json.loads(e.body or b'{}')
        code = error.get('__type', '').split('#')[-1]
        message = error.get('message', error.get('Message', ''))
        sys.stdout.flush()
        sys.stderr.write('\nAn error occurred (%s) when calling the %s operation: %s\n' % (code, operation, message))
        sys.exit(CLIENT_ERROR_STATUS)


def main():
    form = parse(sys.argv[1:])
    endpoint = os.environ.get('AWS_ENDPOINT_URL', '')
    logs_form = parse_logs(sys.argv[1:])
    if logs_form is not None and endpoint.startswith('http://127.0.0.1:'):
        logs(endpoint, *logs_form)
        return
    if form is None or not endpoint.startswith('http://127.0.0.1:'):
        real()
    operation, secret_id, region = form
    if operation == 'get-secret-value':
        answer = call(endpoint, region, 'GetSecretValue', {'SecretId': secret_id})
        if not isinstance(answer.get('SecretString'), str):
            real()
        out = answer['SecretString']
    else:
        value = sys.stdin.buffer.read().decode('utf-8')
        answer = call(endpoint, region, 'PutSecretValue', {'SecretId': secret_id, 'SecretString': value, 'ClientRequestToken': str(uuid.uuid4())})
        out = answer['VersionId']
    sys.stdout.buffer.write((out + '\n').encode('utf-8'))


main()
