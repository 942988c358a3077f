export * from './types';
export { renderPart, renderPrompt, mixCommand, unknownPlaceholders, type PromptValues } from './prompts';
export { MediaPolicy, NO_CREDIT_CODES, warningDelayMs, remainingCallSeconds, spokenMinutes } from './policy';
export { callFacts } from './facts';
