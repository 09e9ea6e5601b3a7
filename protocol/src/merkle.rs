//! RFC 6962 Merkle trees (the hashing and proofs of Certificate Transparency, RFC 9162 §2.1).
//!
//! `leaf = SHA-256(0x00 ‖ data)`, `node = SHA-256(0x01 ‖ left ‖ right)`, the empty tree hashes to
//! `SHA-256("")`. Used for a block's `events_root` and for the `log_root` over every event since
//! genesis; [`Frontier`] keeps the latter incrementally in O(log n) space.

use crate::crypto::Hash;

/// Why a proof or a request for one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old_size} cannot be consistent with a smaller tree of {new_size}")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error("proof has {found} hashes, a tree of this shape needs {expected}")]
    WrongProofLength { expected: usize, found: usize },
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::of_parts(&[&[0x00], data])
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

pub fn empty_root() -> Hash {
    Hash::of_parts(&[])
}

/// The largest power of two strictly below `n` (n ≥ 2): where RFC 6962 splits a tree.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root over `leaves` (already leaf-hashed).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path for leaf `index` (RFC 6962 §2.1.1 PATH).
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    collect_path(leaves, index as usize, &mut proof);
    Ok(proof)
}

fn collect_path(leaves: &[Hash], index: usize, proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if index < k {
        collect_path(&leaves[..k], index, proof);
        proof.push(root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that `leaf` sits at `index` in the tree of `size` leaves with root `expected_root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_length(index, size);
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut running = *leaf;
    for sibling in proof {
        if f_n & 1 == 1 || f_n == s_n {
            running = node_hash(sibling, &running);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            running = node_hash(&running, sibling);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || running != *expected_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// How many hashes an inclusion proof for `index` in a tree of `size` has.
fn inclusion_proof_length(index: u64, size: u64) -> usize {
    // The path length is the depth of the leaf: the bits below where index and the last leaf
    // first differ, plus the levels where the right spine is complete above that.
    let inner = (u64::BITS - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    inner + border
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of all
/// `leaves` (RFC 6962 §2.1.2 PROOF / SUBPROOF).
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        collect_subproof(leaves, old_size as usize, true, &mut proof);
    }
    Ok(proof)
}

fn collect_subproof(leaves: &[Hash], m: usize, complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        collect_subproof(&leaves[..k], m, complete, proof);
        proof.push(root(&leaves[k..]));
    } else {
        collect_subproof(&leaves[k..], m - k, false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`)
/// (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_size == new_size && old_root != new_root {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(MerkleError::WrongProofLength {
            expected: 1,
            found: 0,
        });
    };
    // When the old tree is a complete subtree, its root is the implicit first proof element.
    let (start, path): (Hash, &[Hash]) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (*first, rest)
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut old_running, mut new_running) = (start, start);
    for sibling in path {
        if s_n == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if f_n & 1 == 1 || f_n == s_n {
            old_running = node_hash(sibling, &old_running);
            new_running = node_hash(sibling, &new_running);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            new_running = node_hash(&new_running, sibling);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || old_running != *old_root || new_running != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The right edge of an append-only tree: the roots of its perfect subtrees, largest first.
/// Appending is amortised O(1) hashes and the root is O(log n), so the ledger keeps the
/// `log_root` over every event since genesis without holding the leaves.
#[derive(Debug, Clone, PartialEq, Eq, Default, bincode::Encode, bincode::Decode)]
pub struct Frontier {
    size: u64,
    /// One root per set bit of `size`, from the highest bit to the lowest.
    peaks: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        // Each trailing one bit of `size` is a peak of equal height to merge with.
        let mut merges = self.size.trailing_ones();
        while merges > 0 {
            let left = self
                .peaks
                .pop()
                .expect("a set bit of size always has its peak");
            carry = node_hash(&left, &carry);
            merges -= 1;
        }
        self.peaks.push(carry);
        self.size += 1;
        debug_assert_eq!(self.peaks.len(), self.size.count_ones() as usize);
    }

    /// The RFC 6962 root of every leaf pushed so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => empty_root(),
            Some(smallest) => peaks.fold(*smallest, |right, left| node_hash(left, &right)),
        }
    }
}
