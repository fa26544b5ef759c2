//! JSON Schemas for editors, generated from the model types. The files in `schemas/` are these
//! outputs, checked in; a test fails when they drift.

use crate::inventory::Inventory;
use crate::playbook::Playbook;

/// The playbook schema as pretty JSON (what `schemas/playbook.v1.json` holds).
pub fn playbook_schema() -> String {
    render(schemars::schema_for!(Playbook))
}

/// The inventory schema as pretty JSON (what `schemas/inventory.v1.json` holds).
pub fn inventory_schema() -> String {
    render(schemars::schema_for!(Inventory))
}

fn render(schema: schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
