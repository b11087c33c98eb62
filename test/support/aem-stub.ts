import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';

/**
 * A stand-in for the HTTP endpoints of a running AEM on 127.0.0.1 that the JCR migration uses:
 * `/etc/key/{hmac,master}` binaries (Sling's default GET servlet streams a binary property), the
 * Web Console's bundle JSON, the token handler's configuration (configMgr JSON and the OSGi
 * installer's status), and the Sling POST servlet's `@Delete`. Every request is appended to
 * an event log shared with the `systemctl` stub, so tests can check the order of events.
 */

/** How the stand-in behaves. */
export interface AemStubOptions {
  /** The `/etc/key` binaries (absent = 404). */
  hmac?: Buffer;
  master?: Buffer;
  user?: string;
  password?: string;
  /** Append every request (and delete) to this file, shared with the systemctl stub. */
  events: string;
  /** After a `start` in the event log: bundles never become active. */
  unhealthyAfterRestart?: boolean;
  /** After the restart: serve these bytes for /etc/key/hmac instead. */
  hmacAfterRestart?: Buffer;
  /** After the restart: answer this many GETs of /etc/key with 503, as AEM does while it starts. */
  unavailableAfterRestart?: number;
  /** Answer the delete POST with this status (default 200). */
  deleteStatus?: number;
  /** Send a Content-Length larger than the body for /etc/key/master (a cut connection). */
  truncateMaster?: boolean;
  /**
   * The token handler's configuration as the Web Console shows it: `configMgr/<PID>.json` (Felix
   * ConfigManager's format, metatype merged) and the OSGi installer's configuration printer
   * (`status-osgi-installer.txt`, the artifact it applied first). Absent = no configuration.
   */
  tokenConfig?: { encapsulated: boolean; installedFrom: string };
}

export const TOKEN_PID = 'com.day.crx.security.token.impl.impl.TokenAuthenticationHandler';

/** configMgr/<PID>.json as Felix's ConfigManager writes it (properties merged with the metatype). */
function configJson(t: AemStubOptions['tokenConfig']): string {
  const prop = (name: string, type: number, value: unknown, isSet: boolean) => ({
    name,
    optional: false,
    is_set: isSet,
    type,
    value,
    description: name,
  });
  return JSON.stringify({
    pid: TOKEN_PID,
    title: 'Adobe Granite Token Authentication Handler',
    description: 'Token handler',
    properties: {
      'path': prop('Path', 1, '/', !!t),
      'token.required.attr': prop('Required Attribute', 1, 'none', false),
      'token.encapsulated': prop('Enable encapsulated token support', 11, t ? t.encapsulated : false, !!t),
      'skip.token.refresh': { name: 'Skip token refresh', optional: false, is_set: false, type: 1, values: ['/content/x'], description: 'x' },
    },
    ...(t ? { bundleLocation: '', bundle_location: null, service_location: 'launchpad:resources/install/0/com.adobe.granite.auth.core.jar' } : {}),
  });
}

/** The OSGi installer's configuration printer (text mode), with the token handler's artifacts. */
function installerText(t: AemStubOptions['tokenConfig']): string {
  const rows = t ? [
    `* ${TOKEN_PID}: 9e2f1c/200, ${t.installedFrom}, INSTALLED`,
    ...(t.installedFrom.startsWith('fileinstall') ? [] : ['  - 1a2b3c/100, fileinstall:/elsewhere/install/x.config, IGNORED']),
  ] : [];
  return ['Apache Sling OSGi Installer', '===========================', 'Active Resources', '----------------', '',
    'Processed Resources', '-------------------', 'Configurations:',
    '* org.apache.sling.commons.log.LogManager: 77aa/100, jcrinstall:/libs/x.config, INSTALLED', ...rows, '',
    'Untransformed Resources', '-----------------------', ''].join('\n');
}

export interface AemStub {
  readonly port: number;
  /** Properties deleted from /etc/key, in order. */
  readonly deleted: string[];
  close(): Promise<void>;
}

/** Starts the stand-in for AEM on 127.0.0.1 (random port). */
export async function startAemStub(o: AemStubOptions): Promise<AemStub> {
  const props: Record<string, Buffer | undefined> = { hmac: o.hmac, master: o.master };
  const deleted: string[] = [];
  const log = (line: string) => fs.appendFileSync(o.events, line + '\n');
  const restarted = () => /^start /m.test(fs.readFileSync(o.events, 'utf8'));
  let unavailable = o.unavailableAfterRestart ?? 0;
  const expected = 'Basic ' + Buffer.from(`${o.user ?? 'admin'}:${o.password ?? 'admin'}`).toString('base64');

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      log(`http ${req.method} ${req.url}${body ? ' ' + body : ''}`);
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'Content-Type': 'text/plain' });
        res.end('unauthorized');
        return;
      }
      const key = /^\/etc\/key\/(hmac|master)$/.exec(req.url ?? '');
      if (req.method === 'GET' && key && restarted() && unavailable > 0) {
        unavailable--;
        res.writeHead(503, { 'Content-Type': 'text/html' });
        res.end('<html><body><h1>Service Unavailable</h1><p>AEM is starting up</p></body></html>');
        return;
      }
      if (req.method === 'GET' && key) {
        let bytes = props[key[1]];
        if (key[1] === 'hmac' && o.hmacAfterRestart && restarted()) bytes = o.hmacAfterRestart;
        if (!bytes) {
          // Sling's error page, as AEM serves it (with its length): longer than a key.
          const missing = `Resource at '${req.url}' not found: No resource found`;
          const page = `<html><head><title>404 ${missing}</title></head><body><h1>${missing}</h1>`
            + `<p>Cannot serve request to ${req.url} on this server</p><hr><address>Apache Sling</address></body></html>`;
          res.writeHead(404, { 'Content-Type': 'text/html;charset=utf-8', 'Content-Length': String(Buffer.byteLength(page)) });
          res.end(page);
          return;
        }
        if (key[1] === 'master' && o.truncateMaster) {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length + 8) });
          res.write(bytes);
          res.destroy();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
        res.end(bytes);
        return;
      }
      const bundle = /^\/system\/console\/bundles\/([A-Za-z0-9.]+)\.json$/.exec(req.url ?? '');
      if (req.method === 'GET' && bundle) {
        const state = o.unhealthyAfterRestart && restarted() ? 'Resolved' : 'Active';
        const json = JSON.stringify({
          status: 'Bundle information: 1 bundle', s: [1, 1, 0, 0, 0],
          data: [{ id: 200, name: bundle[1], symbolicName: bundle[1], state, stateRaw: 32 }],
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(json);
        return;
      }
      if (req.method === 'GET' && req.url === `/system/console/configMgr/${TOKEN_PID}.json`) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(configJson(o.tokenConfig));
        return;
      }
      if (req.method === 'GET' && req.url === '/system/console/status-osgi-installer.txt') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(installerText(o.tokenConfig));
        return;
      }
      if (req.method === 'POST' && req.url === '/etc/key') {
        const status = o.deleteStatus ?? 200;
        if (status === 200) {
          for (const m of body.matchAll(/(?:^|&)(hmac|master)%40Delete=/g)) {
            props[m[1]] = undefined;
            deleted.push(m[1]);
            log(`deleted /etc/key/${m[1]}`);
          }
        }
        res.writeHead(status, { 'Content-Type': 'text/html' });
        res.end('<html><body>Content modified /etc/key</body></html>');
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, deleted, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
