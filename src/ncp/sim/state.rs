//! What the simulator remembers, and the vserver operations that read and change it.
//!
//! Everything here is synchronous and does no I/O, so it runs under one `std::sync::Mutex`
//! that is never held across an `.await`.

use super::params::Params;
use super::seed::{IMAGE_STATUSES, SeedAccount, check_login_id, is_image_no};
use super::{
    ERR_DUPLICATE_LOGIN_ID, ERR_IMAGE_NOT_FOUND, ERR_INVALID_PARAMETER, ERR_KVM_NOT_SUPPORTED,
    ERR_NOT_CREATED, ERR_XEN_USE_MEMBER_API, Faults, RecordedCall, SimImage,
};
use crate::ncp::Hypervisor;
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

/// The vserver operations the simulator implements; any other name is an unknown path (404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    GetMemberServerImageInstanceList,
    GetMemberServerImageInstanceDetail,
    AddMemberServerImageSharingPermission,
    RemoveMemberServerImageSharingPermission,
    SetMemberServerImageSharingPermission,
    GetServerImageList,
    GetServerImageDetail,
    AddServerImageSharingPermission,
    RemoveServerImageSharingPermission,
}

impl Operation {
    const ALL: [Operation; 9] = [
        Operation::GetMemberServerImageInstanceList,
        Operation::GetMemberServerImageInstanceDetail,
        Operation::AddMemberServerImageSharingPermission,
        Operation::RemoveMemberServerImageSharingPermission,
        Operation::SetMemberServerImageSharingPermission,
        Operation::GetServerImageList,
        Operation::GetServerImageDetail,
        Operation::AddServerImageSharingPermission,
        Operation::RemoveServerImageSharingPermission,
    ];

    /// The operation for a path segment; names are case-sensitive, as on the gateway.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The operation's name, which is also the prefix of its response key.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::GetMemberServerImageInstanceList => "getMemberServerImageInstanceList",
            Operation::GetMemberServerImageInstanceDetail => "getMemberServerImageInstanceDetail",
            Operation::AddMemberServerImageSharingPermission => {
                "addMemberServerImageSharingPermission"
            }
            Operation::RemoveMemberServerImageSharingPermission => {
                "removeMemberServerImageSharingPermission"
            }
            Operation::SetMemberServerImageSharingPermission => {
                "setMemberServerImageSharingPermission"
            }
            Operation::GetServerImageList => "getServerImageList",
            Operation::GetServerImageDetail => "getServerImageDetail",
            Operation::AddServerImageSharingPermission => "addServerImageSharingPermission",
            Operation::RemoveServerImageSharingPermission => "removeServerImageSharingPermission",
        }
    }

    /// Which response shape the operation answers with.
    pub(crate) fn family(self) -> Family {
        match self {
            Operation::GetServerImageList
            | Operation::GetServerImageDetail
            | Operation::AddServerImageSharingPermission
            | Operation::RemoveServerImageSharingPermission => Family::Server,
            _ => Family::Member,
        }
    }
}

/// The two API families: XEN member images and (KVM and XEN) server images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `memberServerImageInstanceList` of `MemberServerImageInstance`.
    Member,
    /// `serverImageList` of `ServerImage`.
    Server,
}

/// A successful answer before rendering: the page of images and the count before paging.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) images: Vec<SimImage>,
    pub(crate) total_rows: usize,
}

impl Reply {
    fn one(image: SimImage) -> Self {
        Self {
            images: vec![image],
            total_rows: 1,
        }
    }
}

/// A vserver service error: HTTP 400 with `responseError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn service_error(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError {
        code,
        message: message.into(),
    }
}

fn invalid_parameter(message: impl Into<String>) -> ServiceError {
    service_error(ERR_INVALID_PARAMETER, message)
}

fn not_found() -> ServiceError {
    service_error(ERR_IMAGE_NOT_FOUND, "The server image could not be found")
}

/// Everything the simulator keeps, behind the one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) accounts: Vec<SeedAccount>,
    pub(crate) images: BTreeMap<String, SimImage>,
    pub(crate) faults: Faults,
    pub(crate) fail_queue: VecDeque<u16>,
    pub(crate) calls: Vec<RecordedCall>,
}

/// Orders image numbers numerically (they are digit strings of varying length).
fn by_number(a: &SimImage, b: &SimImage) -> Ordering {
    (a.no.len(), &a.no).cmp(&(b.no.len(), &b.no))
}

impl State {
    /// Runs one authenticated operation for the account `caller` (a login ID).
    pub(crate) fn execute(
        &mut self,
        caller: &str,
        op: Operation,
        params: &Params,
    ) -> Result<Reply, ServiceError> {
        match op {
            Operation::GetMemberServerImageInstanceList => self.member_list(caller, params),
            Operation::GetMemberServerImageInstanceDetail => {
                let no = required_no(params, "memberServerImageInstanceNo")?;
                let image = self.owned(caller, no)?;
                require_xen(image)?;
                Ok(Reply::one(image.clone()))
            }
            Operation::AddMemberServerImageSharingPermission => {
                self.change_sharing(caller, params, Change::Add, Family::Member)
            }
            Operation::RemoveMemberServerImageSharingPermission => {
                self.change_sharing(caller, params, Change::Remove, Family::Member)
            }
            Operation::SetMemberServerImageSharingPermission => {
                self.change_sharing(caller, params, Change::Set, Family::Member)
            }
            Operation::GetServerImageList => self.server_list(caller, params),
            Operation::GetServerImageDetail => {
                let no = required_no(params, "serverImageNo")?;
                Ok(Reply::one(self.owned(caller, no)?.clone()))
            }
            Operation::AddServerImageSharingPermission => {
                self.change_sharing(caller, params, Change::Add, Family::Server)
            }
            Operation::RemoveServerImageSharingPermission => {
                self.change_sharing(caller, params, Change::Remove, Family::Server)
            }
        }
    }

    /// The caller's own image; someone else's image is "not found", exactly like a missing one,
    /// so the API does not reveal which numbers exist in other accounts.
    fn owned(&self, caller: &str, no: &str) -> Result<&SimImage, ServiceError> {
        self.images
            .get(no)
            .filter(|i| i.owner == caller)
            .ok_or_else(not_found)
    }

    fn owned_images(&self, caller: &str) -> impl Iterator<Item = &SimImage> {
        self.images.values().filter(move |i| i.owner == caller)
    }

    fn member_list(&self, caller: &str, params: &Params) -> Result<Reply, ServiceError> {
        let nos = params.list("memberServerImageInstanceNoList");
        let name = params.get("memberServerImageName");
        let status = params.get("memberServerImageInstanceStatusCode");
        if let Some(s) = status
            && !IMAGE_STATUSES.contains(&s)
        {
            return Err(invalid_parameter(format!(
                "memberServerImageInstanceStatusCode `{s}` is not one of INIT, CREAT, CREFL"
            )));
        }
        let matches: Vec<SimImage> = self
            .owned_images(caller)
            // KVM images do not exist for the member image APIs.
            .filter(|i| i.hypervisor == Hypervisor::Xen)
            .filter(|i| nos.is_empty() || nos.contains(&i.no))
            .filter(|i| name.is_none_or(|n| i.name == n))
            .filter(|i| status.is_none_or(|s| i.status == s))
            .cloned()
            .collect();
        sort_and_page(matches, params, "memberServerImageName")
    }

    fn server_list(&self, caller: &str, params: &Params) -> Result<Reply, ServiceError> {
        let nos = params.list("serverImageNoList");
        let hypervisors = params.list("hypervisorTypeCodeList");
        let types = params.list("serverImageTypeCodeList");
        let name = params.get("serverImageName");
        let status = params.get("serverImageStatusCode");
        let matches: Vec<SimImage> = self
            .owned_images(caller)
            .filter(|i| nos.is_empty() || nos.contains(&i.no))
            .filter(|i| hypervisors.is_empty() || hypervisors.contains(&i.hypervisor.to_string()))
            // Every image an account made itself is a `SELF` image; `NCP` public images are not simulated.
            .filter(|_| types.is_empty() || types.iter().any(|t| t == "SELF"))
            .filter(|i| name.is_none_or(|n| i.name == n))
            .filter(|i| status.is_none_or(|s| i.status == s))
            .cloned()
            .collect();
        sort_and_page(matches, params, "serverImageName")
    }

    fn change_sharing(
        &mut self,
        caller: &str,
        params: &Params,
        change: Change,
        family: Family,
    ) -> Result<Reply, ServiceError> {
        let no_param = match family {
            Family::Member => "memberServerImageInstanceNo",
            Family::Server => "serverImageNo",
        };
        let no = required_no(params, no_param)?;
        // `set` is the one call where the list may be left out: that clears the sharing.
        let targets = targets(params, change != Change::Set)?;
        let image = self.owned(caller, no)?;
        match family {
            Family::Member => require_xen(image)?,
            Family::Server => require_kvm(image)?,
        }
        // Granting access needs a finished image; taking access away is always allowed.
        let grants = change == Change::Add || (change == Change::Set && !targets.is_empty());
        if grants && image.status != "CREAT" {
            return Err(service_error(
                ERR_NOT_CREATED,
                format!(
                    "The server image {no} cannot be shared in status {}; it must be CREAT",
                    image.status
                ),
            ));
        }
        let image = self.images.get_mut(no).expect("looked up just above");
        match change {
            Change::Add => {
                for t in targets {
                    if !image.shared_with.contains(&t) {
                        image.shared_with.push(t);
                    }
                }
            }
            Change::Remove => image.shared_with.retain(|s| !targets.contains(s)),
            Change::Set => image.shared_with = targets,
        }
        Ok(Reply::one(image.clone()))
    }
}

/// How a sharing call changes the share list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Remove,
    Set,
}

fn required_no<'p>(params: &'p Params, name: &str) -> Result<&'p str, ServiceError> {
    let no = params
        .get(name)
        .ok_or_else(|| invalid_parameter(format!("{name} is required")))?;
    if !is_image_no(no) {
        return Err(invalid_parameter(format!("{name} `{no}` is not a number")));
    }
    Ok(no)
}

fn require_xen(image: &SimImage) -> Result<(), ServiceError> {
    match image.hypervisor {
        Hypervisor::Xen => Ok(()),
        Hypervisor::Kvm => Err(service_error(
            ERR_KVM_NOT_SUPPORTED,
            format!(
                "The server image {} is KVM-based; KVM-based server images are not supported by the \
                 member server image APIs, use getServerImageDetail and \
                 add/removeServerImageSharingPermission",
                image.no
            ),
        )),
    }
}

fn require_kvm(image: &SimImage) -> Result<(), ServiceError> {
    match image.hypervisor {
        Hypervisor::Kvm => Ok(()),
        Hypervisor::Xen => Err(service_error(
            ERR_XEN_USE_MEMBER_API,
            format!(
                "The server image {} is XEN-based; share it with \
                 add/remove/setMemberServerImageSharingPermission",
                image.no
            ),
        )),
    }
}

/// Reads `targetLoginIdList.N`: each ID checked loosely, no ID twice in one call.
fn targets(params: &Params, required: bool) -> Result<Vec<String>, ServiceError> {
    let targets = params.list("targetLoginIdList");
    if required && targets.is_empty() {
        return Err(invalid_parameter("targetLoginIdList is required"));
    }
    for (i, t) in targets.iter().enumerate() {
        check_login_id(t)
            .map_err(|why| invalid_parameter(format!("targetLoginIdList.{}: {why}", i + 1)))?;
        if targets[..i].contains(t) {
            return Err(service_error(
                ERR_DUPLICATE_LOGIN_ID,
                format!("The login ID `{t}` appears more than once in targetLoginIdList"),
            ));
        }
    }
    Ok(targets)
}

/// Applies `sortedBy`/`sortingOrder` and `pageNo`/`pageSize`; `totalRows` counts before paging.
///
/// Without `pageSize` every match is returned (the documented default is unclear). With it,
/// `pageNo` 0 and 1 both mean the first page; `pageNo` without `pageSize` is refused.
fn sort_and_page(
    mut matches: Vec<SimImage>,
    params: &Params,
    name_key: &str,
) -> Result<Reply, ServiceError> {
    let by_name = match params.get("sortedBy") {
        None => false,
        Some(s) if s.eq_ignore_ascii_case(name_key) => true,
        Some(s) => {
            return Err(invalid_parameter(format!(
                "sortedBy `{s}` is not supported (only {name_key})"
            )));
        }
    };
    let descending = match params.get("sortingOrder") {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("ASC") => false,
        Some(s) if s.eq_ignore_ascii_case("DESC") => true,
        Some(s) => {
            return Err(invalid_parameter(format!(
                "sortingOrder `{s}` is not ASC or DESC"
            )));
        }
    };
    matches.sort_by(|a, b| {
        let order = if by_name {
            a.name.cmp(&b.name).then_with(|| by_number(a, b))
        } else {
            by_number(a, b)
        };
        if descending { order.reverse() } else { order }
    });

    let number = |name: &str| -> Result<Option<usize>, ServiceError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| invalid_parameter(format!("{name} `{v}` is not a number")))
            })
            .transpose()
    };
    let page_no = number("pageNo")?;
    let page_size = number("pageSize")?;
    let total_rows = matches.len();
    let images = match (page_no, page_size) {
        (Some(_), None) => {
            return Err(invalid_parameter(
                "pageSize is required when pageNo is given",
            ));
        }
        (_, Some(size)) if !(1..=1000).contains(&size) => {
            return Err(invalid_parameter(format!(
                "pageSize {size} is not between 1 and 1000"
            )));
        }
        (page, Some(size)) => {
            let first = page
                .unwrap_or(0)
                .max(1)
                .saturating_sub(1)
                .saturating_mul(size);
            matches.into_iter().skip(first).take(size).collect()
        }
        (None, None) => matches,
    };
    Ok(Reply { images, total_rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(n: usize) -> State {
        let mut state = State::default();
        for i in 0..n {
            let no = format!("{}", 100 + i);
            let image = SimImage::new(&no, &format!("img-{}", n - i), "me@x", Hypervisor::Xen);
            state.images.insert(no, image);
        }
        state
    }

    fn list(state: &mut State, query: &str) -> Result<(Vec<String>, usize), ServiceError> {
        let params = Params::parse(Some(query), None);
        let reply = state.execute("me@x", Operation::GetMemberServerImageInstanceList, &params)?;
        Ok((
            reply.images.into_iter().map(|i| i.no).collect(),
            reply.total_rows,
        ))
    }

    #[test]
    fn paging_counts_every_match_and_returns_one_page() {
        let mut s = state_with(5);
        let all: Vec<String> = (100..105).map(|n| n.to_string()).collect();
        assert_eq!(list(&mut s, "").unwrap(), (all.clone(), 5));
        assert_eq!(
            list(&mut s, "pageNo=0&pageSize=2").unwrap(),
            (all[0..2].to_vec(), 5)
        );
        assert_eq!(
            list(&mut s, "pageNo=1&pageSize=2").unwrap(),
            (all[0..2].to_vec(), 5)
        );
        assert_eq!(
            list(&mut s, "pageNo=2&pageSize=2").unwrap(),
            (all[2..4].to_vec(), 5)
        );
        assert_eq!(
            list(&mut s, "pageNo=3&pageSize=2").unwrap(),
            (all[4..5].to_vec(), 5)
        );
        assert_eq!(list(&mut s, "pageNo=4&pageSize=2").unwrap(), (vec![], 5));
        assert_eq!(list(&mut s, "pageSize=3").unwrap(), (all[0..3].to_vec(), 5));
    }

    #[test]
    fn bad_paging_parameters_are_service_errors() {
        let mut s = state_with(2);
        for q in [
            "pageNo=1",
            "pageNo=1&pageSize=0",
            "pageNo=1&pageSize=1001",
            "pageNo=x&pageSize=1",
        ] {
            let e = list(&mut s, q).unwrap_err();
            assert_eq!(e.code, ERR_INVALID_PARAMETER, "{q}");
        }
        assert_eq!(list(&mut s, "pageNo=1&pageSize=1000").unwrap().1, 2);
    }

    #[test]
    fn sorting_by_name_and_descending_order() {
        let mut s = state_with(3);
        let (nos, _) = list(&mut s, "sortedBy=memberServerImageName").unwrap();
        assert_eq!(nos, ["102", "101", "100"]);
        let (nos, _) = list(&mut s, "sortingOrder=DESC").unwrap();
        assert_eq!(nos, ["102", "101", "100"]);
        let (nos, _) = list(&mut s, "sortedBy=memberServerImageName&sortingOrder=DESC").unwrap();
        assert_eq!(nos, ["100", "101", "102"]);
    }

    #[test]
    fn image_numbers_sort_numerically() {
        let mut s = State::default();
        for no in ["99", "1000", "123"] {
            s.images
                .insert(no.into(), SimImage::new(no, "n", "me@x", Hypervisor::Xen));
        }
        assert_eq!(list(&mut s, "").unwrap().0, ["99", "123", "1000"]);
    }
}
