// `npm run openapi`: regenerates openapi/openapi.json from the route schemas.
import { writeFileSync } from 'node:fs'
import { DOCUMENT_PATH, generateOpenApiDocument } from './document.js'

writeFileSync(DOCUMENT_PATH, await generateOpenApiDocument())
console.log(`wrote ${DOCUMENT_PATH}`)
