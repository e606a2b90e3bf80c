import { defineConfig } from 'drizzle-kit';

/** PostgreSQL's migrations (`npm run db:generate:pg`), beside SQLite's in drizzle.config.ts. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/pg/schema.ts',
  out: './db/pg-migrations',
});
