// filters.js: the alert filters, named as the API names them, so that a
// page's query string is the API's and a shared link shows the same view.
export const FILTERS = [
  { k: 'since', label: 'Since' },
  { k: 'until', label: 'Until' },
  { k: 'cluster', label: 'Cluster' },
  { k: 'node', label: 'Node' },
  { k: 'namespace', label: 'Namespace' },
  { k: 'pod', label: 'Pod' },
  { k: 'container', label: 'Container' },
  { k: 'image', label: 'Image' },
  { k: 'rule', label: 'Rule' },
  { k: 'priority', label: 'Priority (at or above)' },
  { k: 'source', label: 'Source' },
  { k: 'action', label: 'Action' },
  { k: 'tag', label: 'MITRE tactic or technique' },
  { k: 'q', label: 'Text' },
];

export const SOURCES = [
  ['syscall', 'syscall'], ['mamori', 'mamori (agents)'], ['aws_cloudtrail', 'CloudTrail'],
  ['k8s_audit', 'Kubernetes audit'], ['image', 'image'],
];
export const ACTIONS = ['detected', 'audited', 'blocked'];
export const RANGES = [['', 'any time'], ['15m', 'last 15 min'], ['1h', 'last hour'], ['6h', 'last 6 h'], ['24h', 'last 24 h'], ['168h', 'last 7 days']];

// The MITRE ATT&CK tactics as Falco's rules tag them.
export const TACTICS = [
  'mitre_reconnaissance', 'mitre_resource_development', 'mitre_initial_access', 'mitre_execution',
  'mitre_persistence', 'mitre_privilege_escalation', 'mitre_defense_evasion', 'mitre_credential_access',
  'mitre_discovery', 'mitre_lateral_movement', 'mitre_collection', 'mitre_command_and_control',
  'mitre_exfiltration', 'mitre_impact',
];

export function tacticName(t) {
  return t.replace(/^mitre_/, '').replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}

export function readFilters(query) {
  const f = {};
  for (const { k } of FILTERS) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

export const PRIORITIES_FILTER = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
