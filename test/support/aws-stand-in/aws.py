# A fast stand-in for the AWS CLI (aws-cli v1, which starts in about half a second of CPU) for
# the script tests, talking to moto_server on 127.0.0.1. It answers exactly the invocations the
# on-instance scripts make, and nothing else: any other command line, any other endpoint, any
# answer it does not model (a binary secret) runs the real CLI with the same arguments.
# test/aws-stand-in.test.ts proves, against the real CLI and moto_server, that for these
# invocations it prints the same stdout and stderr and exits with the same status.
# Written out with the real CLI's path in REAL_AWS by test/support/aws-stand-in.ts.
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

REAL_AWS = os.environ.get('AEM_KEYS_REAL_AWS', '')  # replaced when written out

# The forms used by lib/scripts (aem-keys-common.sh, export-keys.sh): fixed options and values.
FORMS = {
    'get-secret-value': {'--query': 'SecretString', '--output': 'text'},
    'put-secret-value': {'--query': 'VersionId', '--output': 'text', '--secret-string': 'file:///dev/stdin'},
}
CLIENT_ERROR_STATUS = 255  # aws-cli v1 on a service error (checked by the contract test)


def real():
    os.execv(REAL_AWS, [REAL_AWS] + sys.argv[1:])


def parse(argv):
    """(operation, secret id, region) when argv is exactly one of FORMS, else None."""
    if len(argv) < 2 or argv[0] != 'secretsmanager' or argv[1] not in FORMS or len(argv) % 2:
        return None
    opts = {}
    for i in range(2, len(argv), 2):
        if argv[i] in opts:
            return None
        opts[argv[i]] = argv[i + 1]
    fixed = FORMS[argv[1]]
    if set(opts) != set(fixed) | {'--secret-id', '--region'}:
        return None
    if any(opts[k] != v for k, v in fixed.items()):
        return None
    return argv[1], opts['--secret-id'], opts['--region']


def call(endpoint, region, operation, body):
    request = urllib.request.Request(endpoint.rstrip('/') + '/', data=json.dumps(body).encode('utf-8'), method='POST', headers={
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'secretsmanager.' + operation,
        # moto_server routes on the credential scope; it checks no signature.
        'Authorization': 'AWS4-HMAC-SHA256 Credential=%s/20260101/%s/secretsmanager/aws4_request, SignedHeaders=host, Signature=0'
        % (os.environ.get('AWS_ACCESS_KEY_ID', 'testing'), region),
    })
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read() or b'{}')
    except urllib.error.HTTPError as e:
        error = json.loads(e.read() or b'{}')
        code = error.get('__type', '').split('#')[-1]
        message = error.get('message', error.get('Message', ''))
        sys.stdout.flush()
        sys.stderr.write('\nAn error occurred (%s) when calling the %s operation: %s\n' % (code, operation, message))
        sys.exit(CLIENT_ERROR_STATUS)


def main():
    form = parse(sys.argv[1:])
    endpoint = os.environ.get('AWS_ENDPOINT_URL', '')
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
