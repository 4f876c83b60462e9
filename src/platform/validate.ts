/**
 * Field checks shared by every service's request decoder. A decoder collects violations for
 * every bad field of a request and throws them together, so a caller learns all its mistakes in
 * one round trip. Each check returns the cleaned value so decoders read as one expression each.
 */
import { type FieldViolation, MulliganError } from "./errors.js";
import { decodePageToken, type PageKey } from "./paging.js";

/** Names: 1–63 characters, letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Tags: 1–128 printable characters without spaces or commas. */
export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/=+@-]{0,127}$/;
/** request_id: up to 128 characters of [A-Za-z0-9._:-]. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const MAX_DESCRIPTION = 1024;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export class Violations {
  readonly list: FieldViolation[] = [];

  add(field: string, reason: string, description: string): void {
    this.list.push({ field, reason, description });
  }

  /** Throws one INVALID_ARGUMENT carrying every violation; the first one names the reason. */
  throwIfAny(): void {
    const first = this.list[0];
    if (!first) return;
    const message = this.list.map((v) => `${v.field}: ${v.description}`).join("; ");
    throw new MulliganError("INVALID_ARGUMENT", first.reason, message, this.list);
  }

  /** A required name (NAME_PATTERN). */
  name(field: string, value: string): string {
    if (value === "") this.add(field, "FIELD_REQUIRED", "is required");
    else if (value.length > 63) this.add(field, "FIELD_TOO_LONG", "must be at most 63 characters");
    else if (!NAME_PATTERN.test(value))
      this.add(
        field,
        "NAME_INVALID",
        "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'",
      );
    return value;
  }

  /** Runs a decoder with a fresh collector and throws every violation it found at once. */
  static decode<T>(fn: (v: Violations) => T): T {
    const v = new Violations();
    const result = fn(v);
    v.throwIfAny();
    return result;
  }

  /** An optional reference: undefined when empty. */
  optionalRef(field: string, value: string): string | undefined {
    return this.ref(field, value, false) || undefined;
  }

  /** page_size and page_token of a List request. */
  page(req: { pageSize: number; pageToken: string }): {
    pageSize: number;
    after: PageKey | undefined;
  } {
    return {
      pageSize: this.pageSize("page_size", req.pageSize),
      after: decodePageToken(this, "page_token", req.pageToken),
    };
  }

  /** A reference to an object by name, slug or UUID; empty allowed unless required. */
  ref(field: string, value: string, required: boolean): string {
    if (value === "") {
      if (required) this.add(field, "FIELD_REQUIRED", "is required");
    } else if (!UUID_PATTERN.test(value) && !NAME_PATTERN.test(value)) {
      this.add(field, "REF_INVALID", "must be a name, slug or UUID");
    }
    return value;
  }

  /** Free text up to `max` characters. */
  text(field: string, value: string, max = MAX_DESCRIPTION): string {
    if (value.length > max) this.add(field, "FIELD_TOO_LONG", `must be at most ${max} characters`);
    else if (hasControlCharacters(value))
      this.add(field, "FIELD_INVALID", "must not contain control characters");
    return value;
  }

  /** An optional request_id; returns undefined when absent. */
  requestId(field: string, value: string): string | undefined {
    if (value === "") return undefined;
    if (!REQUEST_ID_PATTERN.test(value))
      this.add(field, "REQUEST_ID_INVALID", "must be 1–128 characters of [A-Za-z0-9._:-]");
    return value;
  }

  /** An enum value that must be one of `known` (and not the UNSPECIFIED zero if required). */
  enumValue<T extends number>(
    field: string,
    value: number,
    known: Record<number, string>,
    required: boolean,
  ): T {
    if (!(value in known)) this.add(field, "ENUM_UNKNOWN", `unknown value ${value}`);
    else if (required && value === 0) this.add(field, "FIELD_REQUIRED", "is required");
    return value as T;
  }

  /** page_size: 0 means the default; negative or above the maximum is refused. */
  pageSize(field: string, value: number): number {
    if (value < 0 || value > MAX_PAGE_SIZE) {
      this.add(field, "PAGE_SIZE_INVALID", `must be between 0 and ${MAX_PAGE_SIZE}`);
      return DEFAULT_PAGE_SIZE;
    }
    return value === 0 ? DEFAULT_PAGE_SIZE : value;
  }

  /** Update masks: every path must be one of `allowed`; an empty mask is refused. */
  updateMask(field: string, paths: readonly string[] | undefined, allowed: readonly string[]) {
    const list = paths ?? [];
    if (list.length === 0) this.add(field, "FIELD_REQUIRED", "must name the fields to change");
    for (const p of list)
      if (!allowed.includes(p))
        this.add(
          field,
          "UPDATE_MASK_INVALID",
          `cannot update "${p}" (allowed: ${allowed.join(", ")})`,
        );
    return new Set(list);
  }
}

/** True if the text holds a control character other than tab, newline or carriage return. */
export function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** Lower-case, URL-clean form of a name: [a-z0-9-], no leading/trailing or doubled '-'. */
export function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
