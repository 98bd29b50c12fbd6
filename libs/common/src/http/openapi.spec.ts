import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { OpenAPIObject, OperationObject, ParameterObject, SchemaObject } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { AttendantModule } from '../../../../apps/attendant/src/attendant.module';
import { NotifierModule } from '../../../../apps/notifier/src/notifier.module';
import { PollerModule } from '../../../../apps/poller/src/poller.module';
import { RepeaterModule } from '../../../../apps/repeater/src/repeater.module';
import { loadEnv } from '../config/env';
import { AttendantEnv, PollerEnv } from '../config/monitoring.env';
import { NotifierEnv } from '../config/notifier.env';
import { RepeaterEnv } from '../config/repeater.env';
import { checkDto } from '../contracts/validation';
import { NotificationDto } from '../contracts/notification.dto';
import { BROKEN_NOTIFICATIONS, CONTRACT_ENDPOINTS, CONTRACT_EXAMPLES, ExampleRequest, README_EXAMPLES } from '../testing/contract-examples';
import { REPO_ROOT } from '../testing/farm-process';
import { FARM_SIGNATURE_SCHEME, OPERATOR_TOKEN_SCHEME, farmVersion, openApiDocument } from './openapi';

/**
 * The document of each app is built from the app's real module definition (its controllers, as
 * `main.ts` would mount them) in a testing module whose providers are empty stand-ins: no broker,
 * no Redis. What the app serves is read from the HTTP router that Nest built from the same
 * controllers.
 */
const ENV = { FARM_AUTH: 'off', NODE_ID: 'node-1', SERVER_ID: 'node-1', ATTENDANT_CONFIG: join(REPO_ROOT, 'config', 'attendant.yaml') };
const MODULES: Record<ExampleRequest['app'], () => DynamicModule> = {
  notifier: () => NotifierModule.forRoot(loadEnv(NotifierEnv, ENV)),
  repeater: () => RepeaterModule.forRoot(loadEnv(RepeaterEnv, ENV)),
  poller: () => PollerModule.forRoot(loadEnv(PollerEnv, ENV)),
  attendant: () => AttendantModule.forRoot(loadEnv(AttendantEnv, ENV)),
};
const APPS = Object.keys(MODULES) as ExampleRequest['app'][];
const OAS3_VERBS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function controllersOf(m: DynamicModule | Type): Type[] {
  if (typeof m === 'function') return (Reflect.getMetadata('controllers', m) as Type[] | undefined) ?? [];
  const imported = (m.imports ?? []).flatMap((i) => (typeof i === 'function' || (i && typeof i === 'object' && 'module' in i) ? controllersOf(i as DynamicModule | Type) : []));
  return [...(m.controllers ?? []), ...imported];
}

interface Built {
  doc: OpenAPIObject;
  /** `METHOD /path` of every route the app's router has, in OpenAPI's path form. */
  routes: Set<string>;
}

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

async function build(name: ExampleRequest['app']): Promise<Built> {
  const ref = await Test.createTestingModule({ controllers: controllersOf(MODULES[name]()) })
    .useMocker(() => ({}))
    .compile();
  const app: INestApplication = ref.createNestApplication({ logger: false });
  await app.init();
  try {
    const doc = openApiDocument(app, name);
    const routes = new Set<string>();
    const stack = (app.getHttpAdapter().getInstance() as { router: { stack: RouterLayer[] } }).router.stack;
    for (const { route } of stack) {
      if (!route) continue;
      const path = route.path.replace(/\{\/\*(\w+)\}/g, '/{$1}').replace(/:(\w+)/g, '{$1}');
      const methods = Object.keys(route.methods).filter((m) => OAS3_VERBS.includes(m));
      // A route for every method: Swagger's explorer lists each of OpenAPI's methods but TRACE.
      const every = methods.length === OAS3_VERBS.length;
      for (const m of methods) if (!(every && m === 'trace')) routes.add(`${m.toUpperCase()} ${path}`);
    }
    return { doc, routes };
  } finally {
    await app.close();
  }
}

function operations(doc: OpenAPIObject): { key: string; op: OperationObject }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item as Record<string, unknown>)
      .filter(([verb]) => OAS3_VERBS.includes(verb))
      .map(([verb, op]) => ({ key: `${verb.toUpperCase()} ${path}`, op: op as OperationObject })),
  );
}

/** Validates values against schemas of the document (its `$ref`s resolved within it). */
function schemaChecker(doc: OpenAPIObject, coerce = false): (schema: SchemaObject, value: unknown) => string[] {
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: coerce });
  addFormats(ajv);
  return (schema, value) => {
    const validate = ajv.compile({ ...schema, components: doc.components });
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message}`);
  };
}

/** What is wrong with a request by the document: its operation, its parameters, its body. */
function problemsOf(doc: OpenAPIObject, ex: ExampleRequest): string[] {
  const body = schemaChecker(doc);
  const param = schemaChecker(doc, true);
  for (const [template, item] of Object.entries(doc.paths)) {
    const names: string[] = [];
    const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), '([^/]+)'))}$`);
    const m = pattern.exec(ex.path);
    if (!m) continue;
    const op = (item as Record<string, OperationObject | undefined>)[ex.method.toLowerCase()];
    if (!op) return [`${ex.method} is not documented on ${template}`];
    const problems: string[] = [];
    const params = (op.parameters ?? []) as ParameterObject[];
    names.forEach((n, i) => {
      const p = params.find((q) => q.in === 'path' && q.name === n);
      if (!p) problems.push(`path parameter ${n} is not described`);
      else if (p.schema) problems.push(...param(p.schema as SchemaObject, decodeURIComponent(m[i + 1])).map((e) => `path ${n}: ${e}`));
    });
    const query = ex.query ?? {};
    for (const p of params.filter((q) => q.in === 'query')) {
      if (!(p.name in query)) {
        if (p.required) problems.push(`query ${p.name} is required`);
      } else if (p.schema) problems.push(...param(p.schema as SchemaObject, query[p.name]).map((e) => `query ${p.name}: ${e}`));
    }
    for (const k of Object.keys(query)) if (!params.some((q) => q.in === 'query' && q.name === k)) problems.push(`query ${k} is not described`);
    const rb = op.requestBody as { required?: boolean; content?: Record<string, { schema?: SchemaObject }> } | undefined;
    if (ex.body !== undefined) {
      const schema = rb?.content?.['application/json']?.schema;
      if (!schema) problems.push('takes no JSON body');
      else problems.push(...body(schema, ex.body).map((e) => `body ${e}`));
    } else if (rb?.required) problems.push('needs a body');
    return problems;
  }
  return [`no path of the document matches ${ex.path}`];
}

describe('the OpenAPI document of every app', () => {
  const built = new Map<string, Built>();
  beforeAll(async () => {
    for (const name of APPS) built.set(name, await build(name));
  }, 60_000);
  const doc = (name: string) => built.get(name)!.doc;

  it.each(APPS)('%s: is valid OpenAPI 3, titled and versioned', async (name) => {
    const result = await new Validator().validate(structuredClone(doc(name)) as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc(name).openapi).toMatch(/^3\./);
    expect(doc(name).info).toMatchObject({ title: `farm ${name}`, version: farmVersion() });
    expect(farmVersion()).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('the validator refuses a document that is not valid (so the test above can fail)', async () => {
    const broken = structuredClone(doc('notifier')) as unknown as { paths: Record<string, Record<string, { responses?: unknown }>> };
    delete broken.paths['/v1/notifications'].post.responses;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it.each(APPS)('%s: describes every route it serves, and none it does not', (name) => {
    const { routes } = built.get(name)!;
    const documented = new Set(operations(doc(name)).map((o) => o.key));
    expect([...documented].sort()).toEqual([...routes].sort());
    expect(routes.size).toBeGreaterThan(4);
  });

  it.each(APPS)('%s: every operation has a summary and says who may call it, as the guard checks it', (name) => {
    const d = doc(name);
    expect(d.components?.securitySchemes?.[OPERATOR_TOKEN_SCHEME]).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(d.components?.securitySchemes?.[FARM_SIGNATURE_SCHEME]).toMatchObject({ type: 'apiKey', in: 'header', name: 'farm-signature' });
    expect(d.security).toEqual([{ [OPERATOR_TOKEN_SCHEME]: [] }]);
    for (const { key, op } of operations(d)) {
      expect([key, typeof op.summary]).toEqual([key, 'string']);
      if (op.security?.length === 0) {
        expect([key, op.description]).toEqual([key, expect.stringContaining('Open to anyone')]);
      } else {
        expect([key, op.description]).toEqual([key, expect.stringMatching(/Needs an operator token with scope `(read|notify|admin)`/)]);
        expect([key, Object.keys(op.responses)]).toEqual([key, expect.arrayContaining(['401', '403'])]);
      }
      // The request body, where there is one, is a DTO class's schema, never a Buffer's.
      expect(JSON.stringify(op.requestBody ?? {})).not.toMatch(/Buffer/);
    }
  });

  it('says which scope each kind of route needs, and where a signed command is taken instead', () => {
    const op = (name: string, key: string) => operations(doc(name)).find((o) => o.key === key)!.op;
    const scope = (o: OperationObject) => /scope `(\w+)`/.exec(o.description ?? '')?.[1] ?? 'open';
    expect(scope(op('notifier', 'POST /v1/notifications'))).toBe('notify');
    expect(scope(op('notifier', 'GET /metrics'))).toBe('read');
    expect(scope(op('poller', 'DELETE /v1/servers/{id}'))).toBe('admin');
    expect(scope(op('attendant', 'POST /v1/probes/refresh'))).toBe('admin');
    for (const name of APPS) for (const path of ['/v1/health', '/v1/health/live', '/v1/health/ready']) expect(op(name, `GET ${path}`).security).toEqual([]);
    expect(op('repeater', 'GET /apps/{application}/{path}').security).toEqual([]);
    expect(op('repeater', 'GET /v1/ring/ping').security).toEqual([]);
    for (const [key, cmd] of [['POST /v1/sync', 'sync'], ['POST /v1/ring/probe', 'ring-probe'], ['POST /v1/ring/replace', 'ring-replace']]) {
      expect(op('repeater', key).security).toEqual([{ [OPERATOR_TOKEN_SCHEME]: [] }, { [FARM_SIGNATURE_SCHEME]: [] }]);
      expect(op('repeater', key).description).toContain(`signed for \`${cmd}\` in the \`farm-signature\` header`);
    }
    expect(op('repeater', 'GET /v1/availability').security).toEqual([{ [OPERATOR_TOKEN_SCHEME]: [] }]);
    expect(Object.keys(op('notifier', 'POST /v1/notifications').responses).sort()).toEqual(['202', '400', '401', '403', '413', '415', '503']);
  });

  it('documents 503 overloaded on every route the in-flight limiter counts, and on none it exempts', () => {
    const overloaded = { $ref: '#/components/schemas/OverloadedDto' };
    let counted = 0;
    let exempt = 0;
    for (const name of APPS) {
      for (const { key, op } of operations(doc(name))) {
        const r503 = op.responses['503'] as { description: string; headers?: object; content: { 'application/json': { schema: { oneOf?: object[] } } } } | undefined;
        if (/ \/v1\/health|^GET \/metrics$|^GET \/v1\/ring\/ping$|^GET \/v1\/events$/.test(key)) {
          exempt++;
          expect(r503?.description ?? '').not.toContain('Overloaded');
          continue;
        }
        counted++;
        expect(r503?.description).toContain('Overloaded: the process already serves HTTP_MAX_IN_FLIGHT requests');
        expect(r503?.headers).toHaveProperty('Retry-After');
        const schema = r503!.content['application/json'].schema;
        expect(schema.oneOf ?? [schema]).toContainEqual(overloaded);
      }
    }
    expect(counted).toBeGreaterThan(20);
    expect(exempt).toBeGreaterThan(APPS.length * 3);
    // A route with a 503 of its own keeps it as the other choice.
    const notify = operations(doc('notifier')).find((o) => o.key === 'POST /v1/notifications')!.op.responses['503'] as unknown as { content: { 'application/json': { schema: { oneOf?: object[] } } } };
    expect(notify.content['application/json'].schema.oneOf).toEqual([{ $ref: '#/components/schemas/HttpErrorDto' }, overloaded]);
  });

  it.each([...CONTRACT_EXAMPLES, ...README_EXAMPLES].map((ex) => [`${ex.app} ${ex.method} ${ex.path} (${ex.from})`, ex] as const))('the example request validates: %s', (_, ex) => {
    expect(problemsOf(doc(ex.app), ex)).toEqual([]);
    // The app's own validator takes the same bodies.
    if (ex.body !== undefined) expect(checkDto(NotificationDto, ex.body).errors).toBeUndefined();
  });

  it.each(BROKEN_NOTIFICATIONS.map((b) => [b.why, b.body] as const))('a notification the apps refuse is refused by the document too: %s', (_, body) => {
    const ex: ExampleRequest = { app: 'notifier', method: 'POST', path: '/v1/notifications', body, from: 'broken' };
    expect(checkDto(NotificationDto, body).errors).toBeDefined();
    expect(problemsOf(doc('notifier'), ex)).not.toEqual([]);
  });

  it('refuses requests the apps do not serve or parameters they do not take', () => {
    expect(problemsOf(doc('notifier'), { app: 'notifier', method: 'GET', path: '/v1/notifications', from: 'wrong method' })).toEqual(['GET is not documented on /v1/notifications']);
    expect(problemsOf(doc('notifier'), { app: 'notifier', method: 'POST', path: '/v1/notifications', from: 'no body' })).toEqual(['needs a body']);
    expect(problemsOf(doc('repeater'), { app: 'repeater', method: 'POST', path: '/v1/ring/probe', from: 'no target' })).toEqual(['query target is required']);
    expect(problemsOf(doc('repeater'), { app: 'repeater', method: 'GET', path: '/v1/availability', query: { limit: '0' }, from: 'limit 0' })).not.toEqual([]);
    expect(problemsOf(doc('repeater'), { app: 'repeater', method: 'GET', path: '/v1/availability', query: { page: '2' }, from: 'unknown query' })).toEqual(['query page is not described']);
    expect(problemsOf(doc('poller'), { app: 'poller', method: 'GET', path: '/v1/nothing', from: 'no such path' })).toEqual(['no path of the document matches /v1/nothing']);
  });

  /** The endpoints the contract's sections name, read from the contract itself. */
  function namedIn(contract: string): typeof CONTRACT_ENDPOINTS {
    const named: typeof CONTRACT_ENDPOINTS = [];
    let app: ExampleRequest['app'] | undefined;
    for (const line of contract.split('\n')) {
      const heading = /^## (.*)/.exec(line)?.[1];
      if (heading !== undefined) app = /notifier/i.test(heading) ? 'notifier' : /poller/i.test(heading) ? 'poller' : /repeater|ring/i.test(heading) ? 'repeater' : undefined;
      for (const m of line.matchAll(/`(GET|POST|PUT|DELETE) (\/[^`\s?]*)/g)) if (app) named.push({ app, method: m[1], path: m[2] });
    }
    return named;
  }

  it('has an example of every HTTP endpoint the contract names, for the app it names', () => {
    expect(CONTRACT_ENDPOINTS.length).toBeGreaterThanOrEqual(10);
    for (const n of CONTRACT_ENDPOINTS) {
      const pattern = new RegExp(`^${n.path.replace(/\/\.\.\.$/, '').replace(/:\w+/g, '[^/]+')}${n.path.endsWith('/...') ? '(/.*)?' : ''}$`);
      const example = CONTRACT_EXAMPLES.find((ex) => ex.app === n.app && ex.method === n.method && pattern.test(ex.path));
      expect([n, example ? 'has an example' : 'has none']).toEqual([n, 'has an example']);
    }
  });

  it('lists the endpoints the contract names (checked against CONTRACT.md where the shared folder sits beside the repository)', () => {
    // The contract sits in the project's shared folder beside the repository; a clone elsewhere
    // (CI's) has only the list copied from it, which the parser must still read as the contract's.
    const contractFile = join(REPO_ROOT, '..', 'shared', 'CONTRACT.md');
    const excerpt = CONTRACT_ENDPOINTS.map((e) => `## ${e.app}\n\`${e.method} ${e.path}\``).join('\n');
    expect(namedIn(excerpt)).toEqual(CONTRACT_ENDPOINTS);
    if (existsSync(contractFile)) expect(namedIn(readFileSync(contractFile, 'utf8'))).toEqual(CONTRACT_ENDPOINTS);
  });
});
