/**
 * Issue 21 (also noted): the scripts' HTTP client (aemkeys_http, for the Web Console's text
 * answers) refuses an answer whose Content-Length is above its limit, however few bytes follow.
 * (The migration's binary reads: test/trust-boundary.test.ts, "a Content-Length beyond the limit".)
 * The real shell function against a local port that answers what the test says.
 */
import { spawn } from 'child_process';
import * as net from 'net';
import * as path from 'path';

const COMMON = path.join(__dirname, '..', 'lib', 'scripts', 'aem-keys-common.sh');

/** Runs aemkeys_http GET against a local server answering `answer`: its status and AEMKEYS_HTTP_STATUS. */
async function get(answer: string): Promise<string> {
  const server = net.createServer((sock) => {
    sock.once('data', () => sock.end(answer));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const script = '. "$1"; aemkeys_http GET "$2" /system/console/bundles/1.json YWRtaW46YWRtaW4=; echo "$? $AEMKEYS_HTTP_STATUS"';
    const child = spawn('bash', ['-c', script, '_', COMMON, String(port)]);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await new Promise((resolve) => child.on('close', resolve));
    return out.trim();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('aemkeys_http and Content-Length', () => {
  const body = '{"state":"Active"}';
  test('a length within the limit: the answer is taken', async () => {
    expect(await get(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)).toBe('0 200');
  });
  test.each([String(1048577), '99999999999999999999', '0001048577'])('Content-Length: %s, then a short body: refused', async (length) => {
    expect(await get(`HTTP/1.0 200 OK\r\ncontent-length:  ${length} \r\n\r\n${body}`)).toBe('1 200');
  });
});
