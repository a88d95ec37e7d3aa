import type Joi from 'joi';

/**
 * `null` is absent (issue 25, item 10): Go's encoding/json writes an unset slice or raw object as
 * `null` (`"status_callback_urls": null`, `"extensions": null`), and other clients do the same for
 * any optional field. A copy of the body without null-valued members of plain objects, nested up
 * to `depth` levels; arrays are left as they are (a null inside a list is a value, and wrong). A
 * required field sent as null is then reported as missing. Built with Object.fromEntries, so an
 * own `"__proto__"` key stays a key and never becomes the copy's prototype.
 */
export function nullAsAbsent(value: unknown, depth = 4): unknown {
  if (depth <= 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== null)
      .map(([key, member]) => [key, nullAsAbsent(member, depth - 1)]),
  );
}

/**
 * The same rule inside a Joi object schema, for bodies that refuse unknown fields (the native
 * request, src/intake/request-schema.ts): every known key, and the known keys of nested object
 * schemas, takes `null` as absent (`.empty(null)`); a required key sent as null is "required"; an
 * unknown key stays refused, null or not.
 */
export function nullAsAbsentSchema<T>(schema: Joi.ObjectSchema<T>, depth = 2): Joi.ObjectSchema<T> {
  const keys = Object.keys((schema.describe() as { keys?: Record<string, unknown> }).keys ?? {});
  const untyped: Joi.ObjectSchema = schema;
  const nullable = untyped.keys(
    Object.fromEntries(
      keys.map((key) => {
        let child = schema.extract(key);
        if (child.type === 'object' && depth > 1) child = nullAsAbsentSchema(child as Joi.ObjectSchema, depth - 1);
        return [key, child.empty(null)];
      }),
    ),
  );
  // The same keys, each taking null as absent: the value type T is unchanged.
  return nullable as Joi.ObjectSchema<T>;
}
