// Types for the generated ajv standalone validator (see scripts/gen-manifest-types.mjs).
export declare const validate: ((data: unknown) => boolean) & { errors?: unknown[] | null };
export default validate;
