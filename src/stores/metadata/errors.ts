import { WeirError } from "../../authoring/errors.js";

/** `WEIR_STORE_URL` (or `.weir/config.json`'s `storeUrl`) is malformed or names no known kind of store. */
export class StoreUrlError extends WeirError {}

/** The store's schema is newer than this version of weir knows (or older, when it may not migrate). */
export class StoreSchemaError extends WeirError {}

/**
 * The store cannot be used: its file is corrupt, read-only or was deleted, or its server
 * cannot be reached or dropped the connection. The message names the store and what to do.
 */
export class StoreUnavailableError extends WeirError {}
