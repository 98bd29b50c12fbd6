import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { INestApplication, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, OperationObject, SwaggerModule } from '@nestjs/swagger';
import { RouteAccess, routeAccess } from '../auth/operator.guard';
import { SIGNATURE_HEADER } from '../auth/command-signature';
import { AccessDeniedDto, FieldErrorDto, FieldErrorsDto, HttpErrorDto, OverloadedDto } from '../contracts/http-answers.dto';
import { isLightPath } from './in-flight';

/** The security scheme of operator tokens (`Authorization: Bearer`). */
export const OPERATOR_TOKEN_SCHEME = 'operatorToken';
/** The security scheme of commands signed by the farm's own processes (`farm-signature`). */
export const FARM_SIGNATURE_SCHEME = 'farmSignature';
/** Where every app serves its OpenAPI document and the page that shows it; both open to anyone. */
export const OPENAPI_JSON_PATH = '/openapi.json';
export const OPENAPI_PAGE_PATH = '/docs';

const VERBS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'search', 'query'] as const;
const OAS3_VERBS = new Set<string>(VERBS.slice(0, 8));

/** The project's version, from the package.json above this file (in the source tree and in dist/ alike). */
export function farmVersion(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'farm-availability' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
}

/**
 * Every route handler of the app's controllers, by the operation ids the document gives them
 * (`<Controller>_<method>`, and `_<verb>` after it for a route that takes every method), with
 * what its callers need, read by the same function as the guard that checks them.
 */
function accessByOperation(app: INestApplication): Map<string, RouteAccess> {
  const reflector = new Reflector();
  const found = new Map<string, RouteAccess>();
  for (const module of app.get(ModulesContainer, { strict: false }).values()) {
    for (const wrapper of module.controllers.values()) {
      const cls = wrapper.metatype as (abstract new (...args: never[]) => unknown) | null;
      if (!cls?.prototype) continue;
      for (const key of Object.getOwnPropertyNames(cls.prototype)) {
        const handler = (cls.prototype as Record<string, unknown>)[key];
        if (key === 'constructor' || typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod;
        const id = `${cls.name}_${key}`;
        if (method === RequestMethod.ALL) for (const verb of VERBS) found.set(`${id}_${verb}`, routeAccess(reflector, handler, cls, verb));
        else found.set(id, routeAccess(reflector, handler, cls, RequestMethod[method]));
      }
    }
  }
  return found;
}

const ref = (cls: { name: string }) => ({ $ref: `#/components/schemas/${cls.name}` });

/** The sentence every operation gets about its callers, and the security it declares. */
function describeAccess(op: OperationObject, access: RouteAccess): void {
  let says: string;
  if (access.open) {
    op.security = [];
    says = 'Open to anyone: no token needed.';
  } else {
    op.security = access.command ? [{ [OPERATOR_TOKEN_SCHEME]: [] }, { [FARM_SIGNATURE_SCHEME]: [] }] : [{ [OPERATOR_TOKEN_SCHEME]: [] }];
    says = `Needs an operator token with scope \`${access.scope}\` (\`admin\` grants every scope)`;
    if (access.scope === 'read') says += ', or none where the process runs with FARM_PUBLIC_READS=true';
    says += access.command
      ? `. The farm's own processes may send instead, without a token, a command signed for \`${access.command}\` in the \`${SIGNATURE_HEADER}\` header.`
      : '.';
    op.responses['401'] ??= {
      description: `No token, an unknown one${access.command ? ', or a refused signature (reason `signature-<why>`)' : ''}; with \`WWW-Authenticate: Bearer\`.`,
      content: { 'application/json': { schema: ref(AccessDeniedDto) } },
    };
    op.responses['403'] ??= { description: `The token lacks scope \`${access.scope}\`.`, content: { 'application/json': { schema: ref(AccessDeniedDto) } } };
  }
  op.description = op.description ? `${op.description}\n\n${says}` : says;
}

const OVERLOADED = 'Overloaded: the process already serves HTTP_MAX_IN_FLIGHT requests; with `Retry-After: 1`, try again shortly.';

/** Every route the in-flight limiter counts may answer 503 overloaded (a 503 it already has for another reason keeps its schema as the other choice). */
function describeOverload(path: string, op: OperationObject): void {
  if (isLightPath(path.replace(/\{[^}]+\}/g, 'x'))) return;
  const headers = { 'Retry-After': { description: 'Seconds to wait (when overloaded).', schema: { type: 'integer' as const } } };
  const known = op.responses['503'] as { description?: string; content?: Record<string, { schema?: object }> } | undefined;
  const other = known?.content?.['application/json']?.schema;
  op.responses['503'] = {
    description: known?.description ? `${known.description} Or: ${OVERLOADED}` : OVERLOADED,
    headers,
    content: { 'application/json': { schema: other ? { oneOf: [other, ref(OverloadedDto)] } : ref(OverloadedDto) } },
  };
}

/**
 * The OpenAPI 3 document of an app, built from its controllers and the DTO classes that validate
 * its requests. Who may call what is read from the same marks the OperatorGuard reads
 * (`@PublicRoute`, `@RequiresScope`, `@FarmCommand`, else `read` for GET and `admin` for the rest),
 * so the document cannot promise access the guard refuses.
 */
export function openApiDocument(app: INestApplication, name: string, version = farmVersion()): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(`farm ${name}`)
    .setDescription(
      `The HTTP API of the farm's ${name}. Callers send an operator token, \`Authorization: Bearer <token>\`, whose entry in FARM_TOKENS_FILE grants `
        + 'the scope the route needs: `read` (reads), `notify` (sending notifications) or `admin` (every other state change; it grants every scope). '
        + 'Missing or unknown token: 401; a token without the scope: 403. Health routes and the demo applications are open to anyone; '
        + `with FARM_AUTH=off (development) nothing is checked. This document: GET ${OPENAPI_JSON_PATH}; a page showing it: GET ${OPENAPI_PAGE_PATH}.`,
    )
    .setVersion(version)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An operator token; its scopes (`read`, `notify`, `admin`) are listed in FARM_TOKENS_FILE.' }, OPERATOR_TOKEN_SCHEME)
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: SIGNATURE_HEADER,
        description: 'For the farm\'s own processes only: `v1 key=<id> from=<sender> to=<receiver> cmd=<command> at=<ms> nonce=<base64url> sig=<base64url>`, an HMAC-SHA256 with a key of FARM_KEYS_FILE over the command, its query and its JSON body.',
      },
      FARM_SIGNATURE_SCHEME,
    )
    .addSecurityRequirements(OPERATOR_TOKEN_SCHEME)
    .build();
  const doc = SwaggerModule.createDocument(app, config, { extraModels: [AccessDeniedDto, FieldErrorDto, FieldErrorsDto, HttpErrorDto, OverloadedDto] });
  const access = accessByOperation(app);
  for (const [path, item] of Object.entries(doc.paths)) {
    const ops = item as Record<string, OperationObject | undefined>;
    for (const verb of VERBS) {
      const op = ops[verb];
      if (!op) continue;
      // A route for every method (the demo applications) is listed with OpenAPI 3.0's methods only.
      if (!OAS3_VERBS.has(verb)) {
        delete ops[verb];
        continue;
      }
      const a = op.operationId ? access.get(op.operationId) : undefined;
      if (!a) throw new Error(`OpenAPI: no route handler found for ${verb.toUpperCase()} ${path} (operation ${op.operationId ?? 'without an id'})`);
      describeAccess(op, a);
      describeOverload(path, op);
    }
  }
  return doc;
}

/**
 * Serves the app's document as JSON on GET /openapi.json and a page that shows it (Swagger UI,
 * from the swagger-ui-dist package, no network needed) on GET /docs. They are plain HTTP routes,
 * outside Nest's router, so no guard runs for them: both are open to anyone, like the health
 * routes. The document is built on its first request.
 */
export function serveOpenApi(app: INestApplication, name: string): void {
  SwaggerModule.setup(OPENAPI_PAGE_PATH.slice(1), app, () => openApiDocument(app, name), {
    jsonDocumentUrl: OPENAPI_JSON_PATH.slice(1),
    raw: ['json'],
    customSiteTitle: `farm ${name}: HTTP API`,
  });
}
