//! The native agent reads the model itself: the config's name, revision and spec as JSON.

use logplane_model::BundleFile;
use serde_json::json;

use super::{ConfigToRender, JSON_CONTENT_TYPE};

pub fn render(config: ConfigToRender<'_>) -> BundleFile {
    let document = json!({
        "name": config.name,
        "revision": config.revision,
        "spec": config.spec,
    });
    let mut body = serde_json::to_string_pretty(&document).expect("JSON values serialize");
    body.push('\n');
    BundleFile {
        name: format!("{}.json", config.name),
        content_type: JSON_CONTENT_TYPE.to_string(),
        body,
    }
}
