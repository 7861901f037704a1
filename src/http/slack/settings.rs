//! The Slack front door's own setting, `[slack] status_for`; the configuration embeds it.

crate::choice::named_choice! {
    /// `[slack] status_for`: who may ask `status` and `list`.
    #[derive(Default)]
    pub enum StatusFor at "slack.status_for" {
        /// Only people of the policy's `[people]` (the default): requests name images, targets and
        /// reasons that not everyone in the workspace should read.
        #[default]
        People = "people",
        /// Everyone in the Slack workspace.
        Workspace = "workspace",
    }
}
