/**
 * Own-property lookups for names that come from users (a schema's column, a
 * `?key=` field, an alert rule's label, a query name).
 *
 * `obj[name]` on a plain object also finds what the object inherits:
 * `{}["toString"]` is a function, `{}["__proto__"]` is Object.prototype. A
 * missing field must read as missing, whatever its name, so every lookup of a
 * user's name in a plain object goes through here (or uses a Map / a
 * null-prototype object).
 */

/** `obj[key]` if `obj` has its own property `key`, else undefined. */
export function ownValue(obj: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** True when `obj` has its own property `key` (not one inherited from Object.prototype). */
export function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}
