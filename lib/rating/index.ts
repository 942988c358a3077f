export type {
  ServiceAttributes, RuleProblem, RawRuleSet, RawService, RawDayType, RawHoliday, RawTariff, RawTariffStep, RawChargingRule,
  ChargingRule, Tariff, TariffStep,
} from './types';
export { RatingEngine, DEFAULT_MAX_CALL_SECONDS, type RatingEngineOptions } from './engine';
export { CallQuote, type PriceBreakdown, type PricePiece } from './quote';
export { RatingError, type RatingErrorCode } from './errors';
export { RuleSet } from './rule-set';
export { RatingService } from './service';
export { validateRuleSet, parseInstant, type ValidationResult } from './validate';
export { RatingReloader, loadRatingEngine, formatProblems, type RuleSetSource, type ReloadOutcome, type ReloaderOptions } from './reloader';
export { RATING_TABLES, RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet, type RatingTableName, type RatingTableRows, type TableRow } from './tables';
export { formatTableCsv, parseTableCsv, CsvFormatError } from './csv';
