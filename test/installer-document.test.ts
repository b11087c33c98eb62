import { execFileSync } from 'child_process';
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AemCryptoKeys } from '../lib/aem-crypto-keys';
import { INSTALLER_PARAMETER_NAMES, InstallerDocument, renderTokenHandlerConfig } from '../lib/installer-document';
import { OnKeyMismatch, RestartBehavior } from '../lib/installer-options';
import { InstallerParameters } from '../lib/private/installer-parameters';
import { DATA_BLOCK_MARKER, embeddedHeader, SECRET_ARN_PATTERN } from '../lib/private/shell-script-document';
import { TokenHandlerProperty } from '../lib/token-handler-property';
import { synthInstaller } from './support/installer-harness';
import { tokenProperties } from './support/token-properties';

const SCRIPTS = path.join(__dirname, '..', 'lib', 'scripts');

describe('installer document', () => {
  const doc = synthInstaller();

  test('a Linux Command document, schemaVersion 2.2, one aws:runShellScript step', () => {
    const [resource] = Object.values(doc.template.Resources as Record<string, any>).filter((r) => r.Type === 'AWS::SSM::Document');
    expect(resource.Properties.DocumentType).toBe('Command');
    expect(doc.content.schemaVersion).toBe('2.2');
    expect(doc.content.mainSteps).toHaveLength(1);
    expect(doc.content.mainSteps[0].action).toBe('aws:runShellScript');
    expect(doc.content.mainSteps[0].precondition).toEqual({ StringEquals: ['platformType', 'Linux'] });
  });

  test('parameters: the contract\'s, plus AemPort/HmacBytes/MasterBytes', () => {
    expect(Object.keys(doc.parameters)).toEqual([...INSTALLER_PARAMETER_NAMES]);
  });

  test('their defaults; SecretId defaults to the construct\'s secret', () => {
    const defaults = Object.fromEntries(Object.entries(doc.parameters).map(([k, p]) => [k, p.default]));
    const secretId = Object.keys(doc.template.Resources).find((k) => doc.template.Resources[k].Type === 'AWS::SecretsManager::Secret');
    expect(defaults).toEqual({
      SecretId: { Ref: secretId },
      QuickstartDir: '/opt/aem/crx-quickstart',
      AemUser: 'aem',
      EncapsulatedToken: 'true',
      Mode: 'install',
      OnKeyMismatch: 'replace',
      Restart: 'service',
      ServiceName: 'aem',
      StartAfterInstall: 'false',
      AdminSecretId: '',
      AemPort: '4502',
      FreshKeyMinutes: '1440',
      HmacBytes: '32',
      MasterBytes: '16',
      LogGroupName: '',
    });
  });

  test('each parameter is a String held to a pattern or a list of values; the lists of Restart, Mode and OnKeyMismatch', () => {
    for (const p of Object.values(doc.parameters)) {
      expect(p.type).toBe('String');
      expect(Boolean(p.allowedPattern) !== Boolean(p.allowedValues)).toBe(true);
    }
    expect(doc.parameters.Restart.allowedValues).toEqual(['none', 'service', 'bundles']);
    expect(doc.parameters.Mode.allowedValues).toEqual(['install', 'verify']);
    expect(doc.parameters.OnKeyMismatch.allowedValues).toEqual(['replace', 'fail', 'replace-fresh']);
  });

  test('every value the fleet wiring passes is a declared parameter, and passes its pattern', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:aem/keys-AbCdEf';
    const admin = secretsmanager.Secret.fromSecretCompleteArn(new Stack(), 'A', 'arn:aws-cn:secretsmanager:cn-north-1:111111111111:secret:admin-AbCdEf');
    for (const params of [
      InstallerParameters.of().forDocument(arn),
      InstallerParameters.of({
        quickstartDir: '/srv/aem author/crx-quickstart', aemUser: 'aem-author', restart: RestartBehavior.BUNDLES, adminSecret: admin,
        onKeyMismatch: OnKeyMismatch.FAIL, serviceName: 'aem-author.service', aemPort: 65535,
      }).forDocument(arn),
      InstallerParameters.of({ onKeyMismatch: OnKeyMismatch.REPLACE_FRESH, freshKeyAge: Duration.days(3650) }).forDocument(arn),
    ]) {
      for (const [name, [value]] of Object.entries(params)) {
        const p = doc.parameters[name];
        expect(p).toBeDefined();
        if (p.allowedValues) expect(p.allowedValues).toContain(value);
        else expect(new RegExp(p.allowedPattern!).test(value)).toBe(true);
      }
    }
  });

  const re = (n: string) => new RegExp(doc.parameters[n].allowedPattern!);

  test('allowedPattern accepts every partition\'s ARNs; only AdminSecretId may be empty', () => {
    for (const arn of [
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf',
      'arn:aws-cn:secretsmanager:cn-northwest-1:123456789012:secret:a/b_c+d=e.f@g-AbCdEf',
      'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:k-AbCdEf',
    ]) {
      expect(re('SecretId').test(arn)).toBe(true);
      expect(re('AdminSecretId').test(arn)).toBe(true);
    }
    expect(re('AdminSecretId').test('')).toBe(true);
    expect(re('SecretId').test('')).toBe(false);
  });

  test('allowedPattern rejects hostile values', () => {
    const hostile = ['$(touch /tmp/pwned)', '`id`', '"; id; "', "'; id; '", 'x\ny', 'a;b', '-rf'];
    for (const name of ['SecretId', 'AdminSecretId', 'QuickstartDir', 'AemUser', 'ServiceName', 'AemPort', 'HmacBytes', 'MasterBytes']) {
      for (const h of hostile) expect(`${name} ${re(name).test(h)}`).toBe(`${name} false`);
    }
  });

  test('QuickstartDir: any absolute path, spaces too; never a relative one', () => {
    expect(re('QuickstartDir').test('/opt/my aem/crx-quickstart')).toBe(true);
    expect(re('QuickstartDir').test('relative/crx-quickstart')).toBe(false);
  });

  test('the script and the document share the ARN expression', () => {
    const arn = execFileSync('bash', ['-c', '. "$1"; printf %s "$AEMKEYS_ARN_RE"', '_', path.join(SCRIPTS, 'aem-keys-common.sh')], { encoding: 'utf8' });
    expect(arn).toBe(SECRET_ARN_PATTERN);
  });

  test('runCommand = install-keys.sh without comments, with the modules\' functions it uses, then the data block; "{{" only in the data block', () => {
    const lines = doc.runCommand;
    expect(lines.slice(0, 2)).toEqual(['#!/bin/bash', embeddedHeader('install-keys.sh')]);
    expect(lines).toContain('aemkeys_find_bundle() {');
    expect(lines.filter((l) => l.startsWith('. "${BASH_SOURCE[0]%/*}/'))).toEqual([]);
    const data = lines.indexOf(DATA_BLOCK_MARKER);
    expect(lines[data - 1]).toBe('exit $?');
    const block = lines.slice(data);
    expect(block.slice(1, 1 + INSTALLER_PARAMETER_NAMES.length)).toEqual(INSTALLER_PARAMETER_NAMES.map((n) => `#@${n}={{ ${n} }}`));
    expect(block.slice(1 + INSTALLER_PARAMETER_NAMES.length)).toEqual(['#@static token-config', '#@|token.encapsulated=B"true"', '#@end']);
    const withBraces = lines.filter((l) => l.includes('{{'));
    expect(withBraces).toEqual(INSTALLER_PARAMETER_NAMES.map((n) => `#@${n}={{ ${n} }}`));
  });

  test('keyLengths become the HmacBytes/MasterBytes defaults', () => {
    const d = synthInstaller({ keyLengths: { hmac: 64, master: 32 } });
    expect(d.parameters.HmacBytes.default).toBe('64');
    expect(d.parameters.MasterBytes.default).toBe('32');
  });

  test('invalid keyLengths throw', () => {
    expect(() => new AemCryptoKeys(new Stack(new App(), 'S'), 'K', { keyLengths: { hmac: 0 } })).toThrow('hmacBytes (keyLengths.hmac) must be an integer from 1 to 4096, got 0');
    expect(() => new AemCryptoKeys(new Stack(new App(), 'S'), 'K', { keyLengths: { master: 1.5 } })).toThrow('masterBytes (keyLengths.master) must be an integer from 1 to 4096, got 1.5');
  });

  test('token handler properties are rendered into the data block at synth time', () => {
    const d = synthInstaller({ tokenHandlerProperties: { 'token.samesite.cookie.attr': 'None', 'path': '/content/"q"\\x', 'skip.token.refresh': ['/a', '/b'], 'token.required.attr': true, 'x.int': 42 } });
    const i = d.runCommand.indexOf('#@static token-config');
    expect(d.runCommand.slice(i + 1)).toEqual([
      '#@|token.encapsulated=B"true"',
      '#@|path="/content/\\"q\\"\\\\x"',
      '#@|skip.token.refresh=["/a","/b"]',
      '#@|token.required.attr=B"true"',
      '#@|token.samesite.cookie.attr="None"',
      '#@|x.int=I"42"',
      '#@end',
    ]);
  });
});

describe('renderTokenHandlerConfig', () => {
  test('Felix .config syntax: token.encapsulated first, the rest sorted', () => {
    expect(renderTokenHandlerConfig()).toEqual(['token.encapsulated=B"true"']);
    expect(renderTokenHandlerConfig({ b: false, a: 'x', big: 2 ** 40, neg: -3, empty: [] })).toEqual([
      'token.encapsulated=B"true"', 'a="x"', 'b=B"false"', 'big=L"1099511627776"', 'empty=[]', 'neg=I"-3"',
    ]);
  });

  test('string values escape what ends a Felix value (space, =, ") and the escape character itself', () => {
    expect(renderTokenHandlerConfig({ 'token.alternate.url': '/content/login page?a=b', 'q': 'say "x" \\ y', 'list': ['a b', 'c=d'] })).toEqual([
      'token.encapsulated=B"true"', 'list=["a\\ b","c\\=d"]', 'q="say\\ \\"x\\"\\ \\\\\\ y"', 'token.alternate.url="/content/login\\ page?a\\=b"',
    ]);
  });

  test.each([
    [{ 'token.encapsulated': false }, 'tokenHandlerProperties: "token.encapsulated" is set by the installer and cannot be given'],
    [{ 'service.pid': 'x' }, 'tokenHandlerProperties: "service.pid" is set by the installer and cannot be given'],
    [{ 'bad name': 'x' }, 'tokenHandlerProperties: "bad name" is not a valid property name (letters, digits, _ . -; starting with a letter or _)'],
    [{ 'a=b': 'x' }, 'tokenHandlerProperties: "a=b" is not a valid property name'],
    [{ path: 'a\nb' }, 'tokenHandlerProperties: "path" holds a control character (newline, tab, ...)'],
    [{ path: '{{ SecretId }}' }, 'tokenHandlerProperties: "path" holds "{{", which SSM would take for a parameter'],
    [{ ratio: 1.5 }, 'tokenHandlerProperties: "ratio" must be an integer (pass other numbers as strings)'],
    [{ list: [1, 2] as unknown as string[] }, 'tokenHandlerProperties: "list" must be a string, an integer, a boolean or an array of strings'],
  ])('rejects %j at synth time', (props, message) => {
    expect(() => renderTokenHandlerConfig(props)).toThrow(message);
    expect(() => new AemCryptoKeys(new Stack(new App(), 'S'), 'K', { tokenHandlerProperties: tokenProperties(props) })).toThrow(message);
  });

  test('InstallerDocument exposes its runCommand and name', () => {
    const stack = new Stack(new App(), 'D');
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf');
    const d = new InstallerDocument(stack, 'Doc', { secret });
    expect(d.runCommand[d.runCommand.length - 1]).toBe('#@end');
    expect(stack.resolve(d.documentName)).toEqual({ Ref: expect.stringMatching(/^Doc[0-9A-F]{8}$/) });
  });
});

describe('TokenHandlerProperty', () => {
  test('each factory renders its Felix type', () => {
    const stack = new Stack(new App(), 'S');
    const d = new AemCryptoKeys(stack, 'K', {
      tokenHandlerProperties: [
        TokenHandlerProperty.fromString('s', 'x'), TokenHandlerProperty.fromInteger('i', 7),
        TokenHandlerProperty.fromBoolean('b', false), TokenHandlerProperty.fromStrings('l', ['p']),
      ],
    }).installerDocument;
    const i = d.runCommand.indexOf('#@static token-config');
    expect(i).toBeGreaterThan(0);
    expect(d.runCommand.slice(i + 1, i + 6)).toEqual(['#@|token.encapsulated=B"true"', '#@|b=B"false"', '#@|i=I"7"', '#@|l=["p"]', '#@|s="x"']);
  });

  test('the same name twice is an error', () => {
    expect(() => new AemCryptoKeys(new Stack(new App(), 'S'), 'K', {
      tokenHandlerProperties: [TokenHandlerProperty.fromString('a', 'x'), TokenHandlerProperty.fromInteger('a', 1)],
    })).toThrow('tokenHandlerProperties: "a" is given twice');
  });

  test('a list given to fromStrings is copied: changing it afterwards changes nothing', () => {
    const values = ['/a'];
    const p = TokenHandlerProperty.fromStrings('skip.token.refresh', values);
    values.push('/b');
    const d = new AemCryptoKeys(new Stack(new App(), 'S'), 'K', { tokenHandlerProperties: [p] }).installerDocument;
    expect(d.runCommand).toContain('#@|skip.token.refresh=["/a"]');
  });
});
