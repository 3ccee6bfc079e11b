import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The order of test files for mutation runs (vitest.stryker.config.ts): a file that failed in the
 * last run first, then the quickest first. Stryker stops a mutant's run at its first failing test,
 * so a mutant that a unit test kills should not wait for the slow files before it; vitest's own
 * order runs the longest first, which spreads files over workers well but a mutation runner has
 * one. A file that just failed probably kills the next mutant too: Stryker tests a file's mutants
 * in order, and neighbours tend to break the same test.
 */
export default class QuickFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const last = (file: TestSpecification) =>
      cache.getFileTestResults(`${file.project.name}:${relative(config.root, file.moduleId)}`);
    const rank = (file: TestSpecification): [group: number, duration: number] => {
      const result = last(file);
      // Never run: first, as vitest does; then what failed last; then by how long it took.
      if (!result) return [0, 0];
      return [result.failed ? 1 : 2, result.duration];
    };
    return [...files].sort((a, b) => {
      const [groupA, durationA] = rank(a);
      const [groupB, durationB] = rank(b);
      return groupA - groupB || durationA - durationB;
    });
  }
}
