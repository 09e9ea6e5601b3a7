//! RFC 6962 Merkle trees against the Certificate Transparency reference vectors
//! (data/rfc6962.json, copied from transparency-dev/merkle), then exhaustively for small trees.
#![allow(clippy::unwrap_used)]

use serde::Deserialize;
use waybill_protocol::Hash;
use waybill_protocol::merkle::*;

#[derive(Deserialize)]
struct Vectors {
    leaves_hex: Vec<String>,
    roots: Vec<RootVector>,
    empty_root: Hash,
    inclusion: Vec<InclusionVector>,
    consistency: Vec<ConsistencyVector>,
}

#[derive(Deserialize)]
struct RootVector {
    size: usize,
    root: Hash,
}

#[derive(Deserialize)]
struct InclusionVector {
    leaf_index: u64,
    tree_size: usize,
    proof: Vec<Hash>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    size1: u64,
    size2: usize,
    proof: Vec<Hash>,
}

fn vectors() -> (Vectors, Vec<Hash>) {
    let vectors: Vectors = serde_json::from_str(include_str!("data/rfc6962.json")).unwrap();
    let leaves = vectors
        .leaves_hex
        .iter()
        .map(|data| leaf_hash(&hex::decode(data).unwrap()))
        .collect();
    (vectors, leaves)
}

fn root_of(vectors: &Vectors, size: usize) -> Hash {
    vectors.roots.iter().find(|r| r.size == size).unwrap().root
}

#[test]
fn roots_match_reference_vectors() {
    let (vectors, leaves) = vectors();
    assert_eq!(root(&[]), vectors.empty_root);
    assert_eq!(empty_root(), vectors.empty_root);
    assert_eq!(vectors.roots.len(), 8);
    for expected in &vectors.roots {
        assert_eq!(
            root(&leaves[..expected.size]),
            expected.root,
            "size {}",
            expected.size
        );
    }
}

#[test]
fn inclusion_proofs_match_and_verify_reference_vectors() {
    let (vectors, leaves) = vectors();
    for case in &vectors.inclusion {
        let tree = &leaves[..case.tree_size];
        let proof = inclusion_proof(tree, case.leaf_index).unwrap();
        assert_eq!(
            proof, case.proof,
            "index {} size {}",
            case.leaf_index, case.tree_size
        );
        let root = root_of(&vectors, case.tree_size);
        verify_inclusion(
            &tree[case.leaf_index as usize],
            case.leaf_index,
            case.tree_size as u64,
            &case.proof,
            &root,
        )
        .unwrap();
    }
}

#[test]
fn consistency_proofs_match_and_verify_reference_vectors() {
    let (vectors, leaves) = vectors();
    for case in &vectors.consistency {
        let proof = consistency_proof(&leaves[..case.size2], case.size1).unwrap();
        assert_eq!(proof, case.proof, "{} -> {}", case.size1, case.size2);
        verify_consistency(
            case.size1,
            case.size2 as u64,
            &root_of(&vectors, case.size1 as usize),
            &root_of(&vectors, case.size2),
            &case.proof,
        )
        .unwrap();
    }
}

fn synthetic_leaves(count: usize) -> Vec<Hash> {
    (0..count as u32)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect()
}

#[test]
fn every_inclusion_proof_of_small_trees_verifies_and_tampering_fails() {
    let leaves = synthetic_leaves(40);
    for size in 1..=leaves.len() {
        let tree = &leaves[..size];
        let root = root(tree);
        for index in 0..size as u64 {
            let proof = inclusion_proof(tree, index).unwrap();
            let leaf = &tree[index as usize];
            verify_inclusion(leaf, index, size as u64, &proof, &root).unwrap();
            // Wrong leaf, wrong index, truncated proof, altered sibling: all refused.
            let other = leaf_hash(b"not in the tree");
            assert!(verify_inclusion(&other, index, size as u64, &proof, &root).is_err());
            if size > 1 {
                let wrong_index = (index + 1) % size as u64;
                assert!(verify_inclusion(leaf, wrong_index, size as u64, &proof, &root).is_err());
                assert!(verify_inclusion(leaf, index, size as u64, &proof[1..], &root).is_err());
                let mut altered = proof.clone();
                altered[0].0[0] ^= 1;
                assert!(verify_inclusion(leaf, index, size as u64, &altered, &root).is_err());
            }
        }
        assert_eq!(
            verify_inclusion(&tree[0], size as u64, size as u64, &[], &root),
            Err(MerkleError::IndexOutOfRange {
                index: size as u64,
                size: size as u64
            })
        );
    }
}

#[test]
fn every_consistency_proof_of_small_trees_verifies_and_tampering_fails() {
    let leaves = synthetic_leaves(33);
    for new_size in 0..=leaves.len() {
        let new_root = root(&leaves[..new_size]);
        for old_size in 0..=new_size {
            let old_root = root(&leaves[..old_size]);
            let proof = consistency_proof(&leaves[..new_size], old_size as u64).unwrap();
            verify_consistency(
                old_size as u64,
                new_size as u64,
                &old_root,
                &new_root,
                &proof,
            )
            .unwrap();
            if old_size > 0 && old_size < new_size {
                let forged_old = leaf_hash(b"a different history");
                assert!(
                    verify_consistency(
                        old_size as u64,
                        new_size as u64,
                        &forged_old,
                        &new_root,
                        &proof
                    )
                    .is_err()
                );
                let mut altered = proof.clone();
                let last = altered.len() - 1;
                altered[last].0[31] ^= 0x80;
                assert!(
                    verify_consistency(
                        old_size as u64,
                        new_size as u64,
                        &old_root,
                        &new_root,
                        &altered
                    )
                    .is_err()
                );
            }
        }
    }
    assert_eq!(
        consistency_proof(&leaves[..3], 4),
        Err(MerkleError::SizesOutOfOrder {
            old_size: 4,
            new_size: 3
        })
    );
}

#[test]
fn frontier_root_equals_full_tree_root_at_every_size() {
    let leaves = synthetic_leaves(300);
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), empty_root());
    for (count, leaf) in leaves.iter().enumerate() {
        frontier.push(*leaf);
        assert_eq!(frontier.size(), count as u64 + 1);
        assert_eq!(
            frontier.root(),
            root(&leaves[..=count]),
            "size {}",
            count + 1
        );
    }
}
