//! A small Microsoft Graph world for the tests of Graph clients (the
//! emulator's own and switchboard's presence client): one application,
//! two tenants, three users, Graph on an ephemeral loopback port.

use crate::config::EmulatorConfig;
use crate::error::ConfigError;

/// The application (client) id of the app registration.
pub const APP: &str = "11111111-2222-3333-4444-555555555555";
/// Its client secret.
pub const SECRET: &str = "s3cret";
/// Contoso (`contoso.example.net`): Alice and Bob.
pub const TENANT: &str = "8f0c1a36-4c1e-4a43-9d8e-0c6f1e2b7a11";
/// Fabrikam (`fabrikam.example.net`): Carol.
pub const OTHER_TENANT: &str = "0d9e4b1c-0000-4000-8000-00000000000b";
/// Alice (`alice`, +14255550100) of [`TENANT`], Available.
pub const ALICE: &str = "5b2f0c43-3c2c-4d8e-9a53-0e2d1f4b8c21";
/// Bob (`bob`, +14255550101) of [`TENANT`], Away.
pub const BOB: &str = "6c3a1d54-4d3d-4e9f-8b64-1f3e2a5c9d32";
/// Carol (`carol`, +14255550200) of [`OTHER_TENANT`], Available.
pub const CAROL: &str = "7d4b2e65-0000-4000-8000-000000000003";

/// The emulator configuration of this world, with `graph_extra` (such
/// as `token_lifetime_secs = 1`) added to its `[emulator.graph]` table.
pub fn config(graph_extra: &str) -> Result<EmulatorConfig, ConfigError> {
    EmulatorConfig::from_toml(&format!(
        r#"
[emulator]
seed = 5

[emulator.graph]
listen = "127.0.0.1:0"
client_id = "{APP}"
client_secret = "{SECRET}"
{graph_extra}

[[emulator.tenants]]
id = "{TENANT}"
domains = ["contoso.example.net"]

[[emulator.tenants.users]]
name = "alice"
number = "+14255550100"
object_id = "{ALICE}"

[[emulator.tenants.users]]
name = "bob"
number = "+14255550101"
object_id = "{BOB}"
presence = "Away"

[[emulator.tenants]]
id = "{OTHER_TENANT}"
domains = ["fabrikam.example.net"]

[[emulator.tenants.users]]
name = "carol"
number = "+14255550200"
object_id = "{CAROL}"
"#
    ))
}
