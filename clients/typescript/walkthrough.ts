// Every request body scripts/walkthrough.sh sends, typed through the types
// openapi-typescript generates from openapi/openapi.json (scripts/clients.sh
// writes them to ./schema.d.ts and type-checks this file with `tsc --strict`).
//
// Bodies are reached by path and method, never by schema name:
// `paths["/api/v1/dossiers/{id}/accept"]["post"]["requestBody"]["content"]["application/json"]`.
// A body the document leaves untyped (`{"type": "object"}`, which
// openapi-typescript renders as `Record<string, never>`) fails twice: its
// fields are not assignable to `never`, and `Typed` below names it.

import type { paths } from "./schema";

/** The JSON body of an operation (`never` if it has none). */
type JsonBody<Operation> = Operation extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

/** The multipart body of an operation (`never` if it has none). */
type MultipartBody<Operation> = Operation extends {
  requestBody?: { content: { "multipart/form-data": infer Body } };
}
  ? Body
  : never;

/**
 * A body type with named properties. A free-form map (an index signature,
 * such as `Record<string, never>` or `{ [key: string]: unknown }`) is
 * replaced by an error type, so the check fails even where an object literal
 * would happen to fit.
 */
type Typed<Body> = string extends keyof Body
  ? ["error: the document types this body as a free-form map", Body]
  : Body;

type Post<Path extends keyof paths> = paths[Path] extends { post: infer Operation }
  ? Operation
  : never;

type Send<Path extends keyof paths> = Typed<JsonBody<Post<Path>>>;

// Logins: the demo citizen, clerk and officer.
export const login: Send<"/api/v1/auth/token"> = {
  username: "027090001234",
  password: "motcua-demo",
};

// 1. The citizen uploads two PDF scans (multipart field `file`) …
export const upload: Typed<MultipartBody<Post<"/api/v1/files">>> = {
  file: "(the PDF's bytes)",
};

// … and files a temporary-residence registration online with them.
export const filing: Send<"/api/v1/dossiers"> = {
  procedure_code: "1.004194",
  agency_id: "0192d3a4-0000-7000-8000-000000000000",
  applicant: { full_name: "Nguyễn Văn An", phone: "0912345678" },
  documents: [
    { requirement_code: "TK", file_id: "0192d3a4-0000-7000-8000-000000000001" },
    { requirement_code: "CM", file_id: "0192d3a4-0000-7000-8000-000000000002" },
  ],
  result_delivery: "online",
};

// 2. The desk accepts it. The walkthrough sends no field (the version goes
// in If-Match), so an empty body is all it proves; it stays out of `Typed`
// because an accept body with no field at all is a typed empty object.
export const accept: JsonBody<Post<"/api/v1/dossiers/{id}/accept">> = {};

// 3. The desk hands it to the officer's step.
export const handover: Send<"/api/v1/dossiers/{id}/handover"> = {
  to_step: "Thẩm định",
};

// 4. The officer asks for a supplement (the clock pauses).
export const requestSupplement: Send<"/api/v1/dossiers/{id}/request-supplement"> = {
  reason: "Giấy tờ chứng minh chỗ ở bị mờ",
  items: [
    {
      requirement_code: "CM",
      name: "Giấy tờ chứng minh chỗ ở hợp pháp",
      problem: "ảnh mờ",
    },
  ],
};

// 5. The citizen supplies it (the clock resumes).
export const supplement: Send<"/api/v1/dossiers/{id}/supplement"> = {
  documents: [{ requirement_code: "CM", file_id: "0192d3a4-0000-7000-8000-000000000003" }],
};

// 6. The officer records the result.
export const complete: Send<"/api/v1/dossiers/{id}/complete"> = {
  outcome: "approved",
  electronic_result: true,
};

// 7. The desk returns it online.
export const returned: Send<"/api/v1/dossiers/{id}/return"> = {
  delivery: "online",
};

// 8. The citizen rates the service.
export const rating: Send<"/api/v1/dossiers/{id}/rating"> = {
  overall: "very_satisfied",
};
