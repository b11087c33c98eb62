/**
 * One OSGi configuration property of AEM's token authentication handler, written into its Felix
 * `.config` file beside `token.encapsulated=B"true"` (which the installer always sets).
 *
 * The factory decides how the value is written: strings `"…"`, integers `I"n"` (`L"n"` beyond
 * 32 bits), booleans `B"true"`, string lists `["a","b"]`. Names and values are checked at synth
 * time (a valid OSGi property name, not one the installer sets, no control characters, no `{{`).
 *
 * @example
 * import { AemCryptoKeys, TokenHandlerProperty } from 'cdk-aem-crypto-keys';
 *
 * new AemCryptoKeys(this, 'CryptoKeys', {
 *   tokenHandlerProperties: [TokenHandlerProperty.fromString('token.samesite.cookie.attr', 'Lax')],
 * });
 */
export class TokenHandlerProperty {
  /** A string property, written as `name="value"`. */
  public static fromString(name: string, value: string): TokenHandlerProperty {
    return new TokenHandlerProperty(name, value);
  }

  /** An integer property, written as `name=I"n"` (or `L"n"` beyond 32 bits). */
  public static fromInteger(name: string, value: number): TokenHandlerProperty {
    return new TokenHandlerProperty(name, value);
  }

  /** A boolean property, written as `name=B"true"` or `name=B"false"`. */
  public static fromBoolean(name: string, value: boolean): TokenHandlerProperty {
    return new TokenHandlerProperty(name, value);
  }

  /** A string list property, written as `name=["a","b"]`. */
  public static fromStrings(name: string, values: string[]): TokenHandlerProperty {
    return new TokenHandlerProperty(name, [...values]);
  }

  /** The property's name, e.g. `token.samesite.cookie.attr`. */
  public readonly name: string;

  /** @internal */
  public readonly _value: string | number | boolean | string[];

  private constructor(name: string, value: string | number | boolean | string[]) {
    this.name = name;
    this._value = value;
  }
}

/**
 * The properties as the record `renderTokenHandlerConfig` renders (not exported from the package
 * entry). A name given twice is an error.
 */
export function tokenHandlerRecord(properties: TokenHandlerProperty[] = []): Record<string, string | number | boolean | string[]> {
  const record: Record<string, string | number | boolean | string[]> = {};
  for (const p of properties) {
    if (Object.prototype.hasOwnProperty.call(record, p.name)) {
      throw new Error(`tokenHandlerProperties: "${p.name}" is given twice`);
    }
    record[p.name] = p._value;
  }
  return record;
}
