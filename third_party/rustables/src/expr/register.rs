use std::fmt::Debug;

use rustables_macros::nfnetlink_enum;

use crate::sys::{
    NFT_REG_1, NFT_REG_2, NFT_REG_3, NFT_REG_4, NFT_REG_VERDICT, NFT_REG32_00, NFT_REG32_01, NFT_REG32_02, NFT_REG32_03, NFT_REG32_04, NFT_REG32_05, NFT_REG32_06, NFT_REG32_07, NFT_REG32_08, NFT_REG32_09, NFT_REG32_10, NFT_REG32_11, NFT_REG32_12, NFT_REG32_13, NFT_REG32_14, NFT_REG32_15,
};

/// A netfilter data register. The expressions store and read data to and from these when
/// evaluating rule statements.
#[derive(Debug, Copy, Clone, Eq, PartialEq, Hash)]
#[nfnetlink_enum(u32)]
pub enum Register {
    Verdict = NFT_REG_VERDICT,
    Reg1 = NFT_REG_1,
    Reg2 = NFT_REG_2,
    Reg3 = NFT_REG_3,
    Reg4 = NFT_REG_4,
    // kube-verdict patch (PATCHES.md): the 4-byte registers that concatenated set keys use.
    Reg32x00 = NFT_REG32_00,
    Reg32x01 = NFT_REG32_01,
    Reg32x02 = NFT_REG32_02,
    Reg32x03 = NFT_REG32_03,
    Reg32x04 = NFT_REG32_04,
    Reg32x05 = NFT_REG32_05,
    Reg32x06 = NFT_REG32_06,
    Reg32x07 = NFT_REG32_07,
    Reg32x08 = NFT_REG32_08,
    Reg32x09 = NFT_REG32_09,
    Reg32x10 = NFT_REG32_10,
    Reg32x11 = NFT_REG32_11,
    Reg32x12 = NFT_REG32_12,
    Reg32x13 = NFT_REG32_13,
    Reg32x14 = NFT_REG32_14,
    Reg32x15 = NFT_REG32_15,
}
