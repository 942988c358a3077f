import type { Logger } from '../lib/common/logger';
import type { Database } from '../lib/db/database';

/** Demo data for the embedded default (filled in as the domain tables land). */
export async function seedDemoData(_db: Database, logger: Logger): Promise<void> {
  logger.info('demo data seeded');
}
