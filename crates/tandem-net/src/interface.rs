//! Interface name <-> index, the two ways operators and the kernel name a link.

use crate::NetError;

/// The kernel's index for interface `name` (as `ip link` shows it), via `if_nametoindex(3)`.
pub fn interface_index(name: &str) -> Result<u32, NetError> {
    nix::net::if_::if_nametoindex(name).map_err(|errno| NetError::UnknownInterface {
        name: name.to_string(),
        source: errno.into(),
    })
}

/// The name of the interface with index `ifindex`, for logs; `None` when it is gone.
pub fn interface_name(ifindex: u32) -> Option<String> {
    // nix has no safe if_indextoname, so look the index up in the interface list instead.
    let addrs = nix::net::if_::if_nameindex().ok()?;
    addrs
        .iter()
        .find(|i| i.index() == ifindex)
        .map(|i| i.name().to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_and_index_round_trip() {
        let idx = interface_index("lo").expect("every Linux host has lo");
        assert!(idx > 0);
        assert_eq!(interface_name(idx).as_deref(), Some("lo"));
    }

    #[test]
    fn unknown_interface_is_an_error_naming_it() {
        let err = interface_index("tandem-nope0").unwrap_err();
        assert!(err.to_string().contains("tandem-nope0"), "{err}");
    }
}
