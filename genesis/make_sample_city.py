#!/usr/bin/env python3
"""Writes genesis/sample-city.json: a sample municipality (50 bureaus, their
duties, about 300 data directories and grants between them) for demos and tests.

The catalogue reads like a city's 政务信息资源目录, but it is illustrative, not
an official catalogue. Every key is derived from a public label exactly as
`Devnet.key` does (taggedHash("dirledger/example-key", "devnet/<label>")), so the
file is for local use only. Rerun after editing: python3 genesis/make_sample_city.py
"""
import hashlib
import json
import os

# --- BIP-340 public keys from the devnet labels (pure Python, no dependencies) ---
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def point_mul(k):
    result, addend = None, G
    while k:
        if k & 1:
            result = point_add(result, addend)
        addend = point_add(addend, addend)
        k >>= 1
    return result


def tagged_hash(tag, data):
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def devnet_public_key(label):
    secret = int.from_bytes(tagged_hash("dirledger/example-key", ("devnet/" + label).encode()), "big")
    assert 0 < secret < N
    return "%064x" % point_mul(secret)[0]


# --- The city ---
# Each bureau: id, name, duties [(id suffix, title, legal basis)], directories
# [(id suffix, title, duty suffixes, share type, update cycle, items)].
# Share types: U 无条件共享, C 有条件共享, N 不予共享.
from sample_city_data import BUREAUS, GRANTS  # noqa: E402

SHARE = {"U": "unconditional", "C": "conditional", "N": "notShared"}
OPEN = {"U": "conditional", "C": "notOpen", "N": "notOpen"}
CONDITION = "申请部门应说明法定职责依据和使用用途，仅用于政务服务和监管，不得向第三方提供"


def item_type(name):
    if name.endswith("日期") or name.endswith("年月"):
        return "date"
    if name.endswith("时间"):
        return "dateTime"
    if name.startswith("是否"):
        return "boolean"
    if any(name.endswith(s) for s in ("金额", "面积", "比例", "数额", "价格", "基数", "额度")):
        return "decimal"
    if any(name.endswith(s) for s in ("人数", "数量", "次数", "年龄", "床位数", "户数")):
        return "integer"
    if any(name.endswith(s) for s in ("代码", "类别", "类型", "等级", "状态", "性别", "民族", "区划")):
        return "code"
    if name.endswith("附件") or name.endswith("照片"):
        return "binary"
    return "text"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    validators = ["BJ-DSJJ", "BJ-GAJ", "BJ-RSJ", "BJ-ZJW"]
    bureaus, duties, directories, grants = [], [], [], []
    for bureau_id, name, bureau_duties, bureau_directories in BUREAUS:
        bureaus.append({
            "bureauId": bureau_id,
            "name": name,
            "operatorKeys": [devnet_public_key("operator/" + bureau_id)],
            "nodeKeys": [devnet_public_key("node/" + bureau_id)],
        })
        for suffix, title, basis in bureau_duties:
            duties.append({
                "bureauId": bureau_id, "dutyId": f"{bureau_id}-D{suffix}", "title": title,
                "legalBasis": basis, "description": f"{name}依法承担的{title}职责",
            })
        for suffix, title, duty_suffixes, share, cycle, items in bureau_directories:
            directories.append({
                "bureauId": bureau_id, "directoryId": f"{bureau_id}-R{suffix}", "title": title,
                "description": f"{name}在履行职责中产生和管理的{title}",
                "dutyIds": sorted(f"{bureau_id}-D{d}" for d in duty_suffixes),
                "items": [{"name": item, "type": item_type(item), "description": ""} for item in items],
                "shareType": SHARE[share], "shareCondition": CONDITION if share == "C" else "",
                "openType": OPEN[share], "updateCycle": cycle,
            })
    by_id = {d["directoryId"]: d for d in directories}
    for index, (grantor, directory_suffix, grantee, items, purpose) in enumerate(GRANTS):
        directory_id = f"{grantor}-R{directory_suffix}"
        directory = by_id[directory_id]
        assert directory["shareType"] != "notShared", directory_id
        names = [i["name"] for i in directory["items"]]
        for item in items:
            assert item in names, (directory_id, item)
        grants.append({
            "grantorId": grantor, "grantId": f"{grantor}-G{index + 1:03d}", "granteeId": grantee,
            "scope": {
                "directoryId": directory_id, "items": sorted(items, key=lambda s: s.encode()), "purpose": purpose,
                "validFromMs": 1767225600000, "validUntilMs": 1830297600000,
            },
        })
    genesis = {
        "chainId": "sample-city",
        "description": "SAMPLE CITY, LOCAL USE ONLY: an illustrative municipal catalogue; every key is derived "
                       "from a public label (devnet/...) and is known to everyone.",
        "genesisTimeMs": 1767225600000,
        "governance": {
            "keys": sorted(devnet_public_key(f"governance-{n}") for n in (1, 2, 3)),
            "threshold": 2,
        },
        "validators": sorted(
            ({"nodeKey": devnet_public_key("node/" + b), "bureauId": b} for b in validators),
            key=lambda v: v["nodeKey"]),
        "bureaus": bureaus, "duties": duties, "directories": directories, "grants": grants,
    }
    with open(os.path.join(here, "sample-city.json"), "w", encoding="utf-8") as out:
        json.dump(genesis, out, ensure_ascii=False, indent=2, sort_keys=True)
        out.write("\n")
    print(f"{len(bureaus)} bureaus, {len(duties)} duties, {len(directories)} directories, {len(grants)} grants")


if __name__ == "__main__":
    main()
