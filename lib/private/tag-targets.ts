import { Annotations, Token } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';

/** The tag targets of each key set, to find the other key sets of an app that target the same tag. */
const targetsOf = new WeakMap<IConstruct, TagTargets>();

/**
 * The tags a key set installs its keys on (`addInstancesByTag`), and what synthesis says about
 * them: a reminder of the grants the tagged instances' role needs (that role is not visible from
 * here), and a warning for a tag another key set of the app targets too.
 */
export class TagTargets {
  /** `key=value` of each tag association, in order. */
  private readonly tags: string[] = [];
  /** Whether grantRead / grantLogWrite were called by the app (not by addAutoScalingGroup). */
  private readGranted = false;
  private logWriteGranted = false;
  private logWriteWanted = false;

  constructor(private readonly keySet: Construct) {
    targetsOf.set(keySet, this);
  }

  /** Adds the tag `key=value`; returns the association's number (1, 2, ...). */
  public add(key: string, value: string): number {
    const tag = `${key}=${value}`;
    if (!Token.isUnresolved(tag) && this.tags.includes(tag)) {
      throw new Error(`addInstancesByTag(${tag}): this key set already installs on instances tagged ${tag}; two associations would run the installer twice`);
    }
    this.tags.push(tag);
    if (this.tags.length === 1) {
      this.keySet.node.addValidation({ validate: () => this.warnAtSynth() });
    }
    return this.tags.length;
  }

  /** The app granted reading the keys (to the tagged instances' role, presumably). */
  public noteReadGrant(): void {
    this.readGranted = true;
  }

  /** The app granted writing to the log group. */
  public noteLogWriteGrant(): void {
    this.logWriteGranted = true;
  }

  /** An association sends its output to the key set's log group. */
  public noteLogOutput(): void {
    this.logWriteWanted = true;
  }

  /**
   * Runs when the app synthesizes (construct validation), after every grant and key set exists:
   * the grants reminder only while one is missing, and a warning for a tag that another key set
   * of the app also targets (both would install their keys on the same instances).
   */
  private warnAtSynth(): string[] {
    const missing = [
      ...(this.readGranted ? [] : ['keys.grantRead(role)']),
      ...(this.logWriteWanted && !this.logWriteGranted ? ['for their output in the key set\'s log group, keys.grantLogWrite(role)'] : []),
    ];
    if (missing.length > 0) {
      Annotations.of(this.keySet).addInfoV2('cdk-aem-crypto-keys:tagAssociationGrants',
        `addInstancesByTag(${this.tags.join(', ')}): grant the tagged instances' role ${missing.join(' and, ')}`);
    }
    const others = this.keySet.node.root.node.findAll().filter((c) => c !== this.keySet && targetsOf.has(c));
    for (const tag of this.tags) {
      const rivals = others.filter((o) => targetsOf.get(o)?.tags.includes(tag)).map((o) => o.node.path);
      if (rivals.length > 0) {
        Annotations.of(this.keySet).addWarningV2('cdk-aem-crypto-keys:tagTargetedTwice',
          `addInstancesByTag(${tag}): ${rivals.join(', ')} also installs keys on instances tagged ${tag}; each would replace the other's keys `
          + '(the installer refuses to replace keys another key set installed). Give each key set its own tag value');
      }
    }
    return [];
  }
}
