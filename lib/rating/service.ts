import type { RatingEngine } from './engine';
import type { CallQuote } from './quote';
import type { ServiceAttributes } from './types';

/** The engine the application prices with now; the reloader swaps in a new one atomically. */
export class RatingService {
  private engine: RatingEngine;
  private generation = 1;

  constructor(engine: RatingEngine) {
    this.engine = engine;
  }

  current(): RatingEngine {
    return this.engine;
  }

  /** How many engines have been in force (1 at start); grows with every swap. */
  get version(): number {
    return this.generation;
  }

  swap(engine: RatingEngine): void {
    this.engine = engine;
    this.generation++;
  }

  quote(attrs: ServiceAttributes, start: Date): CallQuote {
    return this.engine.quote(attrs, start);
  }
}
