import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeStoreContract } from './store-contract.js';

/** The store contract on the embedded default: a fresh in-memory database per test. */
describeStoreContract('sqlite', async () => openSqliteStore(':memory:'));
