import { StepArgumentError } from "../authoring/errors.js";
import type { PipelineScope } from "../authoring/context.js";

/**
 * Invocation ids are the durable keys of step runs within a run: `name`, `name_2`, … in
 * call order, and `name[key]` (nested: `name[k1.k2]`) inside a map expansion.
 */
export class InvocationNamer {
  private readonly counts = new Map<string, number>();
  private readonly used = new Set<string>();

  next(stepName: string, mappingPath: string, explicitId?: string): string {
    const suffix = mappingPath ? `[${mappingPath}]` : "";
    let id: string;
    if (explicitId !== undefined) {
      id = explicitId + suffix;
      if (this.used.has(id)) {
        throw new StepArgumentError(`invocation id "${id}" is used twice in one run; ids given with withOptions({ id }) must be unique`);
      }
    } else {
      const scopeKey = `${stepName}${suffix}`;
      let count = this.counts.get(scopeKey) ?? 0;
      do {
        count += 1;
        id = (count === 1 ? stepName : `${stepName}_${count}`) + suffix;
      } while (this.used.has(id));
      this.counts.set(scopeKey, count);
    }
    this.used.add(id);
    return id;
  }

  /** The base id of a map template (`double_2` for `double_2[*]`), counted as compile() counts. */
  template(stepName: string, templatePath: string): string {
    const id = this.next(stepName, templatePath);
    return id.slice(0, id.length - templatePath.length - 2);
  }

  /** Takes an id built elsewhere (a map expansion's), refusing one already in use. */
  claim(id: string): string {
    if (this.used.has(id)) {
      throw new StepArgumentError(`invocation id "${id}" is used twice in one run`);
    }
    this.used.add(id);
    return id;
  }
}

/** The mapping-key path of an item inside a (possibly nested) expansion. */
export function childPath(parentPath: string, key: string): string {
  return parentPath ? `${parentPath}.${key}` : key;
}

/** The template key of map expansions, as in compiled snapshots (`step[*]`). */
const TEMPLATE_KEY = "*";

/**
 * A map call site, as `compile()` sees it: every expansion of it names its step calls
 * after the template ids (`double_2[*]` → `double_2[key]`), which are allocated once per
 * template, so names do not depend on the keys or on when items arrive. Maps called inside
 * an expansion are templates nested in it (shared by the expansions of every key).
 */
export class MapTemplate {
  /** Base invocation id of the n-th call of a step in one expansion (`double#1` → `double_2`). */
  readonly baseNames = new Map<string, string>();
  readonly children: MapTemplate[] = [];
  constructor(readonly path: string) {}
}

/** One expansion of a map (one item): the scope its function runs in. */
export interface Expansion {
  template: MapTemplate;
  stepCalls: Map<string, number>;
  mapCalls: number;
}

/**
 * Names a live run's step calls: `name`, `name_2`, … at the top level, and inside a map
 * expansion after the map's template (`double_2[*]` → `double_2[key]`), as compile() names
 * the snapshot's templates.
 */
export class StepNamer {
  private readonly namer = new InvocationNamer();

  /** The invocation id of a call of `stepName` in `scope` (`explicitId`: from withOptions({ id })). */
  stepId(stepName: string, explicitId: string | undefined, scope: PipelineScope): string {
    const expansion = scope.expansion as Expansion | undefined;
    if (!expansion || explicitId !== undefined) return this.namer.next(stepName, scope.mappingPath, explicitId);
    const occurrence = expansion.stepCalls.get(stepName) ?? 0;
    expansion.stepCalls.set(stepName, occurrence + 1);
    return this.namer.claim(`${this.templateName(expansion.template, stepName, occurrence)}[${scope.mappingPath}]`);
  }

  /** The template of a map called in `scope`: a new one at the top level, the same one in every expansion. */
  mapTemplate(scope: PipelineScope): MapTemplate {
    const parent = scope.expansion as Expansion | undefined;
    if (!parent) return new MapTemplate(TEMPLATE_KEY);
    const index = parent.mapCalls++;
    return (parent.template.children[index] ??= new MapTemplate(childPath(parent.template.path, TEMPLATE_KEY)));
  }

  /** Takes a map's template id for its first call of `stepName` now (a step mapped directly). */
  reserve(template: MapTemplate, stepName: string): void {
    this.templateName(template, stepName, 0);
  }

  private templateName(template: MapTemplate, stepName: string, occurrence: number): string {
    const slot = `${stepName}#${occurrence}`;
    let base = template.baseNames.get(slot);
    if (base === undefined) {
      base = this.namer.template(stepName, template.path);
      template.baseNames.set(slot, base);
    }
    return base;
  }
}

/** The scope of one expansion of a map (one item), for PipelineScope.expansion. */
export function newExpansion(template: MapTemplate): Expansion {
  return { template, stepCalls: new Map(), mapCalls: 0 };
}
