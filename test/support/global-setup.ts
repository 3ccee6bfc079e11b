import { writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { openPostgres, wrapPglite } from "../../src/db/client.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** PGlite mode: a dump of a migrated database that each test file loads. */
    pgliteTemplate: string;
    /** PostgreSQL mode: a migrated database each test file copies with CREATE DATABASE ... TEMPLATE. */
    postgresTemplate: string;
  }
}

/** Migrates once per run; every test file then starts from a copy instead of migrating again. */
export default async function setup(project: TestProject) {
  const url = process.env.DATABASE_URL;
  if (url) {
    const name = `chat_template_${process.pid}_${Date.now()}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const templateUrl = new URL(url);
    templateUrl.pathname = `/${name}`;
    const template = await openPostgres(templateUrl.toString(), { max: 1 });
    await template.close();
    project.provide("postgresTemplate", name);
    project.provide("pgliteTemplate", "");
    return async () => {
      const leftovers = await admin<{ datname: string }[]>`
        select datname from pg_database where datname like ${`chat_test_${process.pid}_%`} or datname = ${name}`;
      for (const { datname } of leftovers) await admin.unsafe(`drop database if exists ${datname} with (force)`);
      await admin.end();
    };
  }
  const client = await PGlite.create();
  const handle = await wrapPglite(client);
  const dump = await client.dumpDataDir("none");
  await handle.close();
  const path = join(tmpdir(), `chat-test-template-${process.pid}.tar`);
  await writeFile(path, Buffer.from(await dump.arrayBuffer()));
  project.provide("pgliteTemplate", path);
  project.provide("postgresTemplate", "");
  return () => rm(path, { force: true });
}
