// Validates an OpenAPI document with @apidevtools/swagger-parser (schema
// and semantic checks, $refs resolved). Usage: node swagger-parser-validate.js FILE
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

const file = process.argv[2];
if (!file) {
  console.error('usage: node swagger-parser-validate.js FILE');
  process.exit(2);
}
SwaggerParser.validate(file)
  .then((api) => {
    const ops = Object.values(api.paths || {}).reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`swagger-parser: valid OpenAPI ${api.openapi}, ${ops} operations`);
  })
  .catch((err) => {
    console.error(`swagger-parser: INVALID: ${err.message}`);
    process.exit(1);
  });
