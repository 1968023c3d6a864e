/**
 * `@aws-sdk/client-cloudwatch` is an optional peer dependency: importing shardline, as ES module or
 * CommonJS, must not load it, and a bundler must be able to bundle shardline without it. shardline is
 * built with its own tsup configuration into a project whose `@aws-sdk/client-cloudwatch` throws
 * when loaded, and imported there in fresh processes.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const LOADED = '@aws-sdk/client-cloudwatch was loaded';
let project: string;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'shardline-cloudwatch-import-'));
  const modules = join(project, 'node_modules');
  const shardline = join(modules, 'shardline');
  for (const options of config as Options[]) {
    // Into the project rather than dist/, and without the declarations and license files, which
    // change nothing about what is imported. `config: false`, or tsup would also build every
    // configuration of tsup.config.ts with these options merged in: both into the same outDir at
    // once, which now and then left a file written twice over (a syntax error in index.js).
    await build({ ...options, config: false, outDir: join(shardline, options.outDir!), dts: false, metafile: false, onSuccess: undefined, silent: true });
  }
  cpSync(join(repo, 'package.json'), join(shardline, 'package.json'));
  for (const name of ['@aws-sdk/client-kinesis', '@smithy/node-http-handler']) {
    mkdirSync(join(modules, name, '..'), { recursive: true });
    symlinkSync(join(repo, 'node_modules', name), join(modules, name), 'dir');
  }
  const fake = join(modules, '@aws-sdk', 'client-cloudwatch');
  mkdirSync(fake, { recursive: true });
  writeFileSync(join(fake, 'package.json'), JSON.stringify({ name: '@aws-sdk/client-cloudwatch', version: '3.0.0', main: 'index.js' }));
  writeFileSync(join(fake, 'index.js'), `throw new Error(${JSON.stringify(LOADED)});\n`);
}, 120_000);

afterAll(() => rmSync(project, { recursive: true, force: true }));

/** Runs `script` in the project and returns what it printed. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: project, timeout: 30_000 });
  return stdout.trim();
}

// Loading the package after shardline proves the check can fail: it is the copy shardline would load.
const tryLoading = `.then(() => 'not loaded', (error) => error.message)`;

describe('importing shardline', () => {
  it('as an ES module does not load @aws-sdk/client-cloudwatch', async () => {
    const script = `await import('shardline'); console.log(await import('@aws-sdk/client-cloudwatch')${tryLoading});`;
    expect(await node(['--input-type=module', '-e', script])).toBe(LOADED);
  });

  it('as CommonJS does not load @aws-sdk/client-cloudwatch', async () => {
    const script = `require('shardline'); Promise.resolve().then(() => require('@aws-sdk/client-cloudwatch'))${tryLoading}.then(console.log);`;
    expect(await node(['-e', script])).toBe(LOADED);
  });
});

describe('bundling shardline', () => {
  it('succeeds where @aws-sdk/client-cloudwatch is not installed', async () => {
    const result = await esbuild({
      entryPoints: [join(project, 'node_modules', 'shardline', 'dist', 'esm', 'index.js')],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
      external: ['@aws-sdk/client-kinesis', '@smithy/*'],
      plugins: [
        {
          name: 'without-client-cloudwatch',
          setup(build) {
            build.onResolve({ filter: /^@aws-sdk\/client-cloudwatch$/ }, () => ({ errors: [{ text: 'not installed' }] }));
          },
        },
      ],
    });
    expect(result.errors).toEqual([]);
  });
});

describe('cloudwatchUpload: true where @aws-sdk/client-cloudwatch is not installed', () => {
  const refusal = (load: string) =>
    `try { new ${load}.KinesisProducer({ streamName: 's', region: 'us-east-1', cloudwatchUpload: true }); console.log('built'); }` +
    ` catch (error) { console.log(error.name, error.field); }`;

  it.each([
    ['an ES module', ['--input-type=module', '-e', `const shardline = await import('shardline'); ${refusal('shardline')}`]],
    ['CommonJS', ['-e', `const shardline = require('shardline'); ${refusal('shardline')}`]],
  ])('is refused at once with a ValidationError naming the option, from %s', async (_, args) => {
    const installed = join(project, 'node_modules', '@aws-sdk', 'client-cloudwatch');
    renameSync(installed, `${installed}-away`);
    try {
      expect(await node(args)).toBe('ValidationError cloudwatchUpload');
    } finally {
      renameSync(`${installed}-away`, installed);
    }
    // Where it is installed, the option is taken.
    expect(await node(args)).toBe('built');
  });
});
