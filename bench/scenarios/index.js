'use strict';
module.exports = {
  drain: require('./drain'),
  steady: require('./steady'),
  latency: require('./latency'),
  backlog: require('./backlog'),
  'idle-transaction': require('./idle-transaction'),
  'bulk-enqueue': require('./bulk-enqueue'),
  instances: require('./instances'),
};
