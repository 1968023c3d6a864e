import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // On a terminal the default reporter draws live progress. Piped (CI, `| tee`), it prints a file
    // only when the file ends, so a slow first file means a minute of silence: print each test as it
    // ends instead. Both end with the same summary lines.
    reporters: [process.stdout.isTTY ? 'default' : 'verbose'],
    env: {
      // The SDK's notice that its releases after January 2027 need Node >= 22, printed by every
      // worker on Node 20; the SDK's documented switch (aws/aws-sdk-js-v3#7983) turns it off.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
