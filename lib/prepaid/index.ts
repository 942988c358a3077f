export * from './types';
export * from './errors';
export type { PrepaidStore, OpenReservation, OpenOutcome, ApplyStep, StepOutcome, CloseReservation, CloseOutcome } from './store';
export { holdLedgerKey } from './store';
export { AccountService, parseAmount, validateKey, validateNewAccount, isAccountKind, isAccountStatus, MAX_AMOUNT } from './accounts';
export type { PostOptions } from './accounts';
export {
  CreditControl, openCreditControl, settleKey, DEFAULT_CREDIT_CONTROL_OPTIONS,
} from './credit-control';
export type { CallRequest, CreditControlDeps, RecoveredCall, CreditControlOptions, FailurePolicy, JournalReplay } from './credit-control';
export { FileSettlementJournal, MemorySettlementJournal, JOURNAL_FILE } from './journal';
export type { JournalRecord, SettlementJournal } from './journal';
export { MemoryPrepaidStore } from './memory-store';
