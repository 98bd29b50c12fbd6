import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../domain/errors';

/**
 * Applications and the resources each depends on, from a JSON or YAML file:
 *
 *     applications:
 *       mail: { dependsOn: [db-main, smtp] }
 *       web:  { dependsOn: [db-main] }
 */
export interface ApplicationsConfig {
  applications: Record<string, { dependsOn: string[] }>;
}

const NAME = /^[A-Za-z0-9._:-]{1,128}$/;

export function parseApplicationsConfig(text: string, source: string): ApplicationsConfig {
  let doc: unknown;
  try {
    doc = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`APP_DEPENDENCIES ${source}: cannot parse: ${(err as Error).message}`);
  }
  const apps = (doc as { applications?: unknown } | null)?.applications;
  if (apps === null || typeof apps !== 'object' || Array.isArray(apps)) throw new ConfigError(`APP_DEPENDENCIES ${source}: expected an "applications" map`);
  const out: ApplicationsConfig = { applications: {} };
  for (const [name, spec] of Object.entries(apps as Record<string, unknown>)) {
    if (!NAME.test(name)) throw new ConfigError(`APP_DEPENDENCIES ${source}: bad application name ${JSON.stringify(name)}`);
    const deps = (spec as { dependsOn?: unknown } | null)?.dependsOn ?? [];
    if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string' && NAME.test(d))) {
      throw new ConfigError(`APP_DEPENDENCIES ${source}: applications.${name}.dependsOn must be a list of resource ids`);
    }
    out.applications[name] = { dependsOn: deps as string[] };
  }
  return out;
}

export function loadApplicationsConfig(path: string | undefined): ApplicationsConfig {
  if (!path) return { applications: {} };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`APP_DEPENDENCIES ${path}: cannot read: ${(err as Error).message}`);
  }
  return parseApplicationsConfig(text, path);
}

export function dependencyMap(cfg: ApplicationsConfig): Record<string, string[]> {
  return Object.fromEntries(Object.entries(cfg.applications).map(([app, s]) => [app, s.dependsOn]));
}
