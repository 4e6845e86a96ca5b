// The sample app is bundled into one file (dist/apps/sample/main.js). TypeScript 6 drops `baseUrl`, which the
// tsconfig-paths plugin needs, so the library's alias is resolved here instead.
const path = require('path');

module.exports = (options) => ({
  ...options,
  resolve: {
    ...options.resolve,
    plugins: [],
    alias: { '@app/job-queue': path.resolve(__dirname, '../../libs/job-queue/src') },
  },
});
