//! [`ReadOnly`]: a [`CloudApi`] that passes lookups through and refuses every call that changes a
//! share list, before anything is sent to NCP.
//!
//! The functions that never execute shares (on AWS Lambda: `http`, internet-facing, and
//! `scheduler`, which only queues revocations for the worker) hold an NCP key that can only read
//! (see the README, "Make a read-only NCP key"); this wrapper is the same rule in code, so that a
//! wrong key in their secret still cannot change a share from those processes.

use super::{CloudApi, ImageView, NcpError};
use crate::domain::{ImageNo, LoginId};
use std::sync::Arc;

/// A [`CloudApi`] that only reads.
pub struct ReadOnly {
    inner: Arc<dyn CloudApi>,
    /// Who is read-only, for the error (`the http function`).
    holder: String,
}

impl ReadOnly {
    /// Wraps `inner`; `holder` names the process in refusals (like `the http function`).
    pub fn new(inner: Arc<dyn CloudApi>, holder: impl Into<String>) -> Self {
        Self {
            inner,
            holder: holder.into(),
        }
    }

    fn refuse(&self, operation: &'static str, image: &ImageView) -> NcpError {
        tracing::error!(
            operation,
            image_no = %image.no,
            holder = %self.holder,
            "a share change was asked of a read-only NCP client; refused without calling NCP"
        );
        NcpError::ReadOnly {
            operation,
            holder: self.holder.clone(),
        }
    }
}

#[async_trait::async_trait]
impl CloudApi for ReadOnly {
    async fn image(&self, no: &ImageNo) -> Result<ImageView, NcpError> {
        self.inner.image(no).await
    }

    async fn images(&self) -> Result<Vec<ImageView>, NcpError> {
        self.inner.images().await
    }

    async fn add_sharing(
        &self,
        image: &ImageView,
        _targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        Err(self.refuse("add_sharing", image))
    }

    async fn remove_sharing(
        &self,
        image: &ImageView,
        _targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        Err(self.refuse("remove_sharing", image))
    }

    async fn set_sharing(
        &self,
        image: &ImageView,
        _targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        Err(self.refuse("set_sharing", image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncp::Hypervisor;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts every call that reaches it.
    #[derive(Default)]
    struct Counting {
        reads: AtomicUsize,
        changes: AtomicUsize,
    }

    fn view() -> ImageView {
        ImageView {
            no: ImageNo::parse("1234567").unwrap(),
            name: "golden".into(),
            status: "CREAT".into(),
            hypervisor: Hypervisor::Xen,
            shared_with: vec![],
        }
    }

    #[async_trait::async_trait]
    impl CloudApi for Counting {
        async fn image(&self, _: &ImageNo) -> Result<ImageView, NcpError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(view())
        }
        async fn images(&self) -> Result<Vec<ImageView>, NcpError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![view()])
        }
        async fn add_sharing(&self, i: &ImageView, _: &[LoginId]) -> Result<ImageView, NcpError> {
            self.changes.fetch_add(1, Ordering::SeqCst);
            Ok(i.clone())
        }
        async fn remove_sharing(
            &self,
            i: &ImageView,
            _: &[LoginId],
        ) -> Result<ImageView, NcpError> {
            self.changes.fetch_add(1, Ordering::SeqCst);
            Ok(i.clone())
        }
        async fn set_sharing(&self, i: &ImageView, _: &[LoginId]) -> Result<ImageView, NcpError> {
            self.changes.fetch_add(1, Ordering::SeqCst);
            Ok(i.clone())
        }
    }

    #[tokio::test]
    async fn lookups_pass_through_and_every_share_change_is_refused_before_ncp() {
        let inner = Arc::new(Counting::default());
        let cloud = ReadOnly::new(inner.clone(), "the http function");
        let no = ImageNo::parse("1234567").unwrap();
        assert_eq!(cloud.image(&no).await.unwrap().name, "golden");
        assert_eq!(cloud.images().await.unwrap().len(), 1);
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2);

        let image = view();
        let targets = [LoginId::parse("dev@corp.example").unwrap()];
        for (op, result) in [
            ("add_sharing", cloud.add_sharing(&image, &targets).await),
            (
                "remove_sharing",
                cloud.remove_sharing(&image, &targets).await,
            ),
            ("set_sharing", cloud.set_sharing(&image, &targets).await),
        ] {
            let e = result.unwrap_err();
            assert!(
                matches!(&e, NcpError::ReadOnly { operation, .. } if *operation == op),
                "{e:?}"
            );
            assert!(!e.is_transient(), "a refusal is not retried: {e}");
            let text = e.to_string();
            assert!(
                text.contains(op) && text.contains("the http function"),
                "{text}"
            );
        }
        assert_eq!(
            inner.changes.load(Ordering::SeqCst),
            0,
            "nothing reached NCP"
        );
    }
}
