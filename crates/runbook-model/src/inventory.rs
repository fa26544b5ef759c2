//! The inventory model: an environment's values, hosts, groups and escalation channels.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spanned::Spanned;

/// An environment: values for the playbook's params, where remote steps go, where
/// escalations are delivered.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "runbook inventory (runbook/v1)")]
pub struct Inventory {
    /// The format version: `runbook/v1`.
    #[schemars(extend("const" = "runbook/v1"))]
    pub api_version: Spanned<String>,
    /// Always `Inventory`.
    #[schemars(extend("const" = "Inventory"))]
    pub kind: Spanned<String>,
    /// Where steps without `on:` run: `local` (the default), a host or a group. The same
    /// playbook runs on a laptop or on production by its inventory alone.
    pub target: Option<Spanned<String>>,
    /// Values for the playbook's params and vars, over the playbook's defaults and under
    /// `--var-file` and `--var`.
    #[serde(default)]
    pub vars: IndexMap<String, Spanned<Value>>,
    /// Names of variables (in `vars`, group or host vars) whose values are secret.
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    /// The machines remote steps run on, by name.
    #[serde(default)]
    pub hosts: IndexMap<String, Spanned<Host>>,
    /// Named lists of hosts, for a step's `on:`.
    #[serde(default)]
    pub groups: IndexMap<String, Spanned<Group>>,
    /// Where escalation rungs, `on_failure: {escalate}` and `notify` steps send pages, by name.
    #[serde(default)]
    pub channels: IndexMap<String, Spanned<Channel>>,
}

/// A machine reached over SSH (or this machine, with `connection: local`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Hostname or IP address; defaults to the host's name (so `~/.ssh/config` aliases work).
    pub address: Option<String>,
    /// The SSH login; ssh's own default (its config, the local user) when absent.
    pub user: Option<String>,
    /// The SSH port; ssh's own default (its config, 22) when absent.
    #[serde(default, deserialize_with = "crate::strict::opt_u16")]
    pub port: Option<u16>,
    /// `ssh` (the default) or `local`: run on this machine, as a local step does.
    #[serde(default)]
    pub connection: Connection,
    /// Extra `ssh -o` options, e.g. `ProxyJump=bastion` or `IdentityFile=~/.ssh/ops`.
    #[serde(default)]
    pub ssh_options: Vec<String>,
    /// Values for steps on this host, over its groups' vars and the run's values.
    #[serde(default)]
    pub vars: IndexMap<String, Spanned<Value>>,
}

/// How a host is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// Over `ssh` (the default).
    #[default]
    Ssh,
    /// On this machine, as a local step runs.
    Local,
}

/// A group: a list of host names, or hosts with group vars.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Group {
    /// A list of host names.
    Hosts(Vec<String>),
    /// Host names with values for steps on them.
    WithVars {
        /// The group's host names.
        hosts: Vec<String>,
        /// Values for steps on these hosts, over the run's values and under each host's own vars.
        #[serde(default)]
        vars: IndexMap<String, Value>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupWithVars {
    hosts: Vec<String>,
    #[serde(default)]
    vars: IndexMap<String, Value>,
}

// Hand-written: an untagged enum cannot refuse unknown fields (a typo like `varz:` would drop
// the group's vars without a word).
impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Group;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of host names, or {hosts: [...], vars: {...}}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Group, A::Error> {
                Vec::<String>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Group::Hosts)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Group, A::Error> {
                let g =
                    GroupWithVars::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Group::WithVars {
                    hosts: g.hosts,
                    vars: g.vars,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Group {
    /// The group's host names, in the order written.
    pub fn hosts(&self) -> &[String] {
        match self {
            Group::Hosts(hosts) | Group::WithVars { hosts, .. } => hosts,
        }
    }

    /// The group's vars; `None` for a plain list of hosts.
    pub fn vars(&self) -> Option<&IndexMap<String, Value>> {
        match self {
            Group::Hosts(_) => None,
            Group::WithVars { vars, .. } => Some(vars),
        }
    }
}

/// Where a notification goes: exactly one of `webhook` and `command`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["webhook"], "properties": { "webhook": { "not": { "type": "null" } } } },
    { "required": ["command"], "properties": { "command": { "not": { "type": "null" } } } },
]))]
pub struct Channel {
    /// An HTTP(S) URL that receives a JSON POST.
    #[schemars(pattern("^https?://"))]
    pub webhook: Option<String>,
    /// A shell command (template over `subject`, `message`, `level`, `playbook`, `run`);
    /// the message arrives on its stdin.
    pub command: Option<Spanned<String>>,
    /// Extra HTTP headers for a webhook.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
}

impl Inventory {
    /// The hosts a step's `on:` names: a group's hosts, or the one host.
    pub fn resolve_target(&self, target: &str) -> Option<Vec<String>> {
        if target == "local" {
            return Some(vec!["local".to_owned()]);
        }
        if let Some(group) = self.groups.get(target) {
            return Some(group.hosts().to_vec());
        }
        self.hosts
            .contains_key(target)
            .then(|| vec![target.to_owned()])
    }
}
