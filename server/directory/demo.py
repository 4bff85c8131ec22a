"""The demo consortium: one city hospital, two county hospitals, four township health centres."""

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from server.accounts.models import User
from server.directory.models import (
    Consortium,
    Department,
    Institution,
    InstitutionLevel,
    Patient,
    PatientDuplicate,
    Practitioner,
    PractitionerRole,
    Role,
    Sex,
    Specialty,
    Title,
)
from server.directory.services import national_id_hash

DEMO_PASSWORD = "Yunzhen-demo-2026"  # noqa: S105 - published demo credential, demo data only

INSTITUTIONS = [
    # code, name, level, parent code
    ("qh-city", "清河市人民医院", InstitutionLevel.CITY, None),
    ("qh-county", "清河县人民医院", InstitutionLevel.COUNTY, "qh-city"),
    ("qh-tcm", "清河县中医医院", InstitutionLevel.COUNTY, "qh-city"),
    ("dongba", "东坝镇卫生院", InstitutionLevel.TOWNSHIP, "qh-county"),
    ("liuxi", "柳溪乡卫生院", InstitutionLevel.TOWNSHIP, "qh-county"),
    ("shiqiao", "石桥镇卫生院", InstitutionLevel.TOWNSHIP, "qh-tcm"),
    ("taoyuan", "桃源乡卫生院", InstitutionLevel.TOWNSHIP, "qh-tcm"),
]

DEPARTMENTS = [
    ("qh-city", "放射科", Specialty.RADIOLOGY),
    ("qh-city", "心内科", Specialty.CARDIOLOGY),
    ("qh-city", "产科", Specialty.OBSTETRICS),
    ("qh-city", "消化内科", Specialty.INTERNAL_MEDICINE),
    ("qh-county", "内科", Specialty.INTERNAL_MEDICINE),
    ("qh-county", "放射科", Specialty.RADIOLOGY),
    ("qh-county", "医务科", Specialty.ADMINISTRATION),
    ("qh-tcm", "内科", Specialty.INTERNAL_MEDICINE),
    ("dongba", "全科", Specialty.GENERAL_PRACTICE),
    ("liuxi", "全科", Specialty.GENERAL_PRACTICE),
    ("shiqiao", "全科", Specialty.GENERAL_PRACTICE),
    ("taoyuan", "全科", Specialty.GENERAL_PRACTICE),
]

PRACTITIONERS = [
    # username, name, institution, department, specialty, title, since, roles
    (
        "dr.li",
        "李建国",
        "dongba",
        "全科",
        Specialty.GENERAL_PRACTICE,
        Title.ATTENDING,
        2012,
        [Role.CLINIC_DOCTOR],
    ),
    (
        "dr.zhao",
        "赵晓梅",
        "liuxi",
        "全科",
        Specialty.GENERAL_PRACTICE,
        Title.RESIDENT,
        2019,
        [Role.CLINIC_DOCTOR],
    ),
    (
        "dr.he",
        "何文斌",
        "shiqiao",
        "全科",
        Specialty.GENERAL_PRACTICE,
        Title.ATTENDING,
        2014,
        [Role.CLINIC_DOCTOR],
    ),
    (
        "dr.chen",
        "陈志远",
        "qh-city",
        "放射科",
        Specialty.RADIOLOGY,
        Title.CHIEF,
        2001,
        [Role.SPECIALIST],
    ),
    (
        "dr.wang",
        "王丽华",
        "qh-city",
        "心内科",
        Specialty.CARDIOLOGY,
        Title.ASSOCIATE_CHIEF,
        2008,
        [Role.SPECIALIST],
    ),
    (
        "dr.sun",
        "孙静",
        "qh-city",
        "产科",
        Specialty.OBSTETRICS,
        Title.ASSOCIATE_CHIEF,
        2010,
        [Role.SPECIALIST],
    ),
    (
        "dr.zhou",
        "周海涛",
        "qh-county",
        "内科",
        Specialty.INTERNAL_MEDICINE,
        Title.ATTENDING,
        2013,
        [Role.SPECIALIST],
    ),
    (
        "dr.xu",
        "徐明",
        "qh-county",
        "放射科",
        Specialty.RADIOLOGY,
        Title.ATTENDING,
        2016,
        [Role.SPECIALIST],
    ),
    (
        "coord.liu",
        "刘芳",
        "qh-county",
        "医务科",
        Specialty.ADMINISTRATION,
        Title.NONE,
        None,
        [Role.COORDINATOR],
    ),
    (
        "admin.dongba",
        "马强",
        "dongba",
        None,
        Specialty.ADMINISTRATION,
        Title.NONE,
        None,
        [Role.INSTITUTION_ADMIN],
    ),
    (
        "admin.city",
        "郑敏",
        "qh-city",
        None,
        Specialty.ADMINISTRATION,
        Title.NONE,
        None,
        [Role.INSTITUTION_ADMIN],
    ),
]

# Fictional people; the ID numbers are made up and only their keyed hashes are stored.
PATIENTS = [
    # name, sex, birth date, institution, national id, health card, phone
    (
        "王秀英",
        Sex.FEMALE,
        date(1952, 4, 18),
        "dongba",
        "510322195204180021",
        "HC-DB-0001",
        "13800000001",
    ),
    ("张德明", Sex.MALE, date(1948, 11, 2), "dongba", "510322194811020013", "HC-DB-0002", ""),
    (
        "刘桂兰",
        Sex.FEMALE,
        date(1990, 6, 30),
        "dongba",
        "510322199006300047",
        "HC-DB-0003",
        "13800000003",
    ),
    ("陈永福", Sex.MALE, date(1961, 1, 9), "liuxi", "510322196101090031", "HC-LX-0001", ""),
    (
        "杨春花",
        Sex.FEMALE,
        date(1985, 9, 23),
        "liuxi",
        "510322198509230062",
        "HC-LX-0002",
        "13800000005",
    ),
    ("黄国强", Sex.MALE, date(1957, 12, 12), "shiqiao", "510322195712120019", "HC-SQ-0001", ""),
    # The same woman registered again at Liuxi without her ID card: a duplicate to review.
    ("王秀英", Sex.FEMALE, date(1952, 4, 18), "liuxi", "", "", "13800000001"),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    institution: str


@transaction.atomic
def demo_seed() -> list[DemoLogin]:
    """Create what is missing and return the demo logins; existing rows are left as they are."""
    consortium, _ = Consortium.objects.get_or_create(
        code="qinghe", defaults={"name": "清河县域医共体"}
    )
    institutions: dict[str, Institution] = {}
    for code, name, level, parent in INSTITUTIONS:
        institutions[code], _ = Institution.objects.get_or_create(
            code=code,
            defaults={
                "consortium": consortium,
                "name": name,
                "level": level,
                "parent": institutions[parent] if parent else None,
            },
        )
    departments: dict[tuple[str, str], Department] = {}
    for code, name, specialty in DEPARTMENTS:
        departments[(code, name)], _ = Department.objects.get_or_create(
            institution=institutions[code], name=name, defaults={"specialty": specialty}
        )
    logins = []
    for username, name, code, dept, specialty, title, since, roles in PRACTITIONERS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        practitioner, _ = Practitioner.objects.get_or_create(
            user=user,
            defaults={
                "institution": institutions[code],
                "department": departments[(code, dept)] if dept else None,
                "display_name": name,
                "specialty": specialty,
                "title": title,
                "licence_number": f"DEMO-{username.upper()}" if since else "",
                "independent_practice_since": date(since, 7, 1) if since else None,
            },
        )
        for role in roles:
            PractitionerRole.objects.get_or_create(practitioner=practitioner, role=role)
        logins.append(
            DemoLogin(
                username=username, role=str(roles[0].label), institution=institutions[code].name
            )
        )
    _seed_patients(consortium, institutions)
    return logins


def _seed_patients(consortium: Consortium, institutions: dict[str, Institution]) -> None:
    if Patient.objects.filter(consortium=consortium).exists():
        return
    created = []
    for name, sex, born, code, national_id, card, phone in PATIENTS:
        created.append(
            Patient.objects.create(
                consortium=consortium,
                home_institution=institutions[code],
                name=name,
                sex=sex,
                birth_date=born,
                national_id_hash=national_id_hash(national_id) if national_id else "",
                health_card_number=card,
                phone=phone,
            )
        )
    PatientDuplicate.objects.create(
        consortium=consortium,
        new_patient=created[-1],
        existing_patient=created[0],
        reason="same_demographics",
    )
