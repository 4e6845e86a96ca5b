'use strict';
// Every variant under test, peers first. `ours` is loaded lazily by its adapter (ts-node), so listing it is cheap.
module.exports = [...require('./graphile'), ...require('./pgboss'), ...require('./ours')];
