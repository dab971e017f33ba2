import { StepArgumentError } from "../authoring/errors.js";

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
