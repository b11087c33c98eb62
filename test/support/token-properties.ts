import { TokenHandlerProperty } from '../../lib/token-handler-property';

/** Token handler properties as a plain record, for tests: each value through its typed factory. */
export function tokenProperties(record: Record<string, string | number | boolean | string[]>): TokenHandlerProperty[] {
  return Object.entries(record).map(([name, value]) => {
    if (typeof value === 'string') return TokenHandlerProperty.fromString(name, value);
    if (typeof value === 'number') return TokenHandlerProperty.fromInteger(name, value);
    if (typeof value === 'boolean') return TokenHandlerProperty.fromBoolean(name, value);
    return TokenHandlerProperty.fromStrings(name, value);
  });
}
