"""The demo manufacturer's catalogue: products, components, symptoms, error codes, causes, fixes.

A fictitious maker of industrial equipment (pumps, compressors, conveyors, controllers,
sensors). Names carry aliases and Chinese names so note linking and Chinese search have
something real to find.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """A product line of the catalogue."""

    id: str
    sku: str
    name: str
    aliases: tuple[str, ...]
    name_zh: str
    category: str
    list_price: float
    launched_on: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Component:
    """A part that products are built from."""

    id: str
    name: str
    aliases: tuple[str, ...]
    name_zh: str


@dataclass(frozen=True)
class Symptom:
    """What a customer observes when something fails."""

    id: str
    name: str
    aliases: tuple[str, ...]
    name_zh: str
    components: tuple[str, ...]  # components that typically cause it
    # What Chinese customers also call it (the linker's Chinese surfaces; the notes use name_zh only).
    aliases_zh: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fault:
    """A known failure: error code, symptom, cause and the fix (what the notes and articles tell)."""

    code: str
    description: str
    symptom: str
    component: str
    cause: str
    cause_zh: str
    resolution: str
    resolution_zh: str


COMPONENTS: tuple[Component, ...] = (
    Component("comp-impeller", "impeller", ("rotor blade",), "叶轮"),
    Component("comp-mech-seal", "mechanical seal", ("shaft seal", "seal kit"), "机械密封"),
    Component("comp-bearing", "bearing", ("ball bearing",), "轴承"),
    Component("comp-vfd", "frequency inverter", ("VFD", "drive unit"), "变频器"),
    Component("comp-pressure-sensor", "pressure sensor", ("pressure transducer",), "压力传感器"),
    Component("comp-temp-sensor", "temperature sensor", ("PT100",), "温度传感器"),
    Component("comp-control-board", "control board", ("main PCB", "controller board"), "控制板"),
    Component("comp-belt", "drive belt", ("V-belt",), "传动皮带"),
    Component("comp-motor", "electric motor", ("motor",), "电机"),
    Component("comp-valve", "relief valve", ("safety valve",), "安全阀"),
    Component("comp-filter", "air filter", ("intake filter",), "空气过滤器"),
    Component("comp-oil-separator", "oil separator", ("separator element",), "油分离器"),
    Component("comp-encoder", "rotary encoder", ("encoder",), "编码器"),
    Component("comp-hmi", "touch panel", ("HMI", "operator panel"), "触摸屏"),
    Component("comp-roller", "conveyor roller", ("idler roller",), "输送辊"),
    Component("comp-power-supply", "power supply unit", ("PSU",), "电源模块"),
)

PRODUCTS: tuple[Product, ...] = (
    Product(
        "prod-ax120",
        "AX-120",
        "AX-120 centrifugal pump",
        ("AX120", "AX 120 pump"),
        "AX-120离心泵",
        "pump",
        4200.0,
        "2019-03-01",
        ("comp-impeller", "comp-mech-seal", "comp-bearing", "comp-motor"),
    ),
    Product(
        "prod-ax200",
        "AX-200",
        "AX-200 high-flow pump",
        ("AX200",),
        "AX-200大流量泵",
        "pump",
        6900.0,
        "2021-05-01",
        ("comp-impeller", "comp-mech-seal", "comp-bearing", "comp-motor", "comp-vfd"),
    ),
    Product(
        "prod-hp50",
        "HP-50",
        "HydroPress HP-50 booster",
        ("HP50", "HydroPress"),
        "HP-50增压泵",
        "pump",
        3100.0,
        "2018-09-01",
        ("comp-pressure-sensor", "comp-mech-seal", "comp-motor", "comp-valve"),
    ),
    Product(
        "prod-kc75",
        "KC-75",
        "KC-75 screw compressor",
        ("KC75", "screw compressor 75"),
        "KC-75螺杆压缩机",
        "compressor",
        18500.0,
        "2020-01-15",
        ("comp-oil-separator", "comp-filter", "comp-temp-sensor", "comp-motor", "comp-valve"),
    ),
    Product(
        "prod-kc110",
        "KC-110",
        "KC-110 screw compressor",
        ("KC110",),
        "KC-110螺杆压缩机",
        "compressor",
        24800.0,
        "2022-02-01",
        ("comp-oil-separator", "comp-filter", "comp-temp-sensor", "comp-vfd", "comp-motor"),
    ),
    Product(
        "prod-pc30",
        "PC-30",
        "PistonAir PC-30 compressor",
        ("PC30", "PistonAir"),
        "PC-30活塞压缩机",
        "compressor",
        5400.0,
        "2017-06-01",
        ("comp-valve", "comp-filter", "comp-belt", "comp-motor"),
    ),
    Product(
        "prod-cv400",
        "CV-400",
        "FlexLine CV-400 conveyor",
        ("CV400", "FlexLine"),
        "CV-400输送机",
        "conveyor",
        12900.0,
        "2019-11-01",
        ("comp-roller", "comp-belt", "comp-motor", "comp-encoder"),
    ),
    Product(
        "prod-cv600",
        "CV-600",
        "FlexLine CV-600 heavy conveyor",
        ("CV600",),
        "CV-600重型输送机",
        "conveyor",
        19900.0,
        "2023-04-01",
        ("comp-roller", "comp-belt", "comp-motor", "comp-encoder", "comp-vfd"),
    ),
    Product(
        "prod-mc9",
        "MC-9",
        "MotionCore MC-9 controller",
        ("MC9", "MotionCore"),
        "MC-9运动控制器",
        "controller",
        2600.0,
        "2020-08-01",
        ("comp-control-board", "comp-power-supply", "comp-hmi"),
    ),
    Product(
        "prod-mc12",
        "MC-12",
        "MotionCore MC-12 controller",
        ("MC12",),
        "MC-12运动控制器",
        "controller",
        3900.0,
        "2023-01-10",
        ("comp-control-board", "comp-power-supply", "comp-hmi", "comp-encoder"),
    ),
    Product(
        "prod-ts5",
        "TS-5",
        "ThermoSense TS-5 sensor kit",
        ("TS5", "ThermoSense"),
        "TS-5温度传感套件",
        "sensor",
        480.0,
        "2018-02-01",
        ("comp-temp-sensor", "comp-power-supply"),
    ),
    Product(
        "prod-ps8",
        "PS-8",
        "PressureSense PS-8 transmitter",
        ("PS8",),
        "PS-8压力变送器",
        "sensor",
        650.0,
        "2021-09-01",
        ("comp-pressure-sensor", "comp-power-supply"),
    ),
    Product(
        "prod-svc",
        "SVC-PLUS",
        "ServicePlus maintenance contract",
        ("ServicePlus",),
        "ServicePlus维保合同",
        "service",
        1800.0,
        "2017-01-01",
        (),
    ),
    Product(
        "prod-kit-seal",
        "KIT-SEAL",
        "seal replacement kit",
        ("seal kit AX",),
        "密封更换套件",
        "spare part",
        240.0,
        "2017-01-01",
        ("comp-mech-seal",),
    ),
    Product(
        "prod-kit-filter",
        "KIT-FILTER",
        "compressor filter kit",
        ("filter kit",),
        "压缩机滤芯套件",
        "spare part",
        180.0,
        "2017-01-01",
        ("comp-filter", "comp-oil-separator"),
    ),
)

SYMPTOMS: tuple[Symptom, ...] = (
    Symptom(
        "sym-leak",
        "seal leakage",
        ("leaking seal", "water leak at the shaft"),
        "密封泄漏",
        ("comp-mech-seal",),
        aliases_zh=("泄漏", "漏水", "渗漏"),
    ),
    Symptom(
        "sym-vibration",
        "excessive vibration",
        ("strong vibration", "shaking", "vibration"),
        "振动过大",
        ("comp-bearing", "comp-impeller", "comp-roller"),
        aliases_zh=("振动大", "振动", "震动", "抖动"),
    ),
    Symptom(
        "sym-noise",
        "grinding noise",
        # The bare "noise" too: a schedule's "check for unusual noise" is a mention, not a resolution
        # (an article resolves the symptoms of its title and issue sections, ingest.articles).
        ("rattling noise", "loud noise", "noisy", "noise"),
        "异常噪音",
        ("comp-bearing", "comp-belt"),
        aliases_zh=("噪音", "噪声", "异响"),
    ),
    Symptom(
        "sym-overheat",
        "overheating",
        ("runs hot", "high temperature"),
        "过热",
        ("comp-temp-sensor", "comp-oil-separator", "comp-motor", "comp-filter"),
        aliases_zh=("温度过高", "发烫"),
    ),
    Symptom(
        "sym-pressure-drop",
        "pressure drop",
        ("low pressure", "loss of pressure"),
        "压力下降",
        ("comp-pressure-sensor", "comp-valve", "comp-impeller", "comp-filter"),
        aliases_zh=("压力低", "压力不足"),
    ),
    Symptom(
        "sym-no-start",
        "does not start",
        ("will not start", "no power"),
        "无法启动",
        ("comp-power-supply", "comp-vfd", "comp-control-board", "comp-motor"),
        aliases_zh=("不能启动", "启动不了", "开不了机"),
    ),
    Symptom(
        "sym-trip",
        "inverter trips",
        ("drive trips", "overcurrent trip"),
        "变频器跳闸",
        ("comp-vfd", "comp-motor"),
        aliases_zh=("跳闸",),
    ),
    Symptom(
        "sym-belt-slip", "belt slipping", ("belt slip",), "皮带打滑", ("comp-belt", "comp-roller"), aliases_zh=("打滑",)
    ),
    Symptom(
        "sym-display",
        "blank display",
        ("screen is black", "HMI frozen"),
        "屏幕黑屏",
        ("comp-hmi", "comp-control-board", "comp-power-supply"),
        aliases_zh=("黑屏", "屏幕不亮"),
    ),
    Symptom(
        "sym-position",
        "position drift",
        ("positioning error",),
        "定位偏差",
        ("comp-encoder", "comp-control-board"),
        aliases_zh=("定位不准",),
    ),
    Symptom(
        "sym-oil-carryover",
        "oil carry-over",
        ("oil in the air line",),
        "油气带油",
        ("comp-oil-separator",),
        aliases_zh=("跑油",),
    ),
    Symptom(
        "sym-reading",
        "erratic readings",
        ("unstable signal", "sensor reading jumps"),
        "读数不稳",
        ("comp-temp-sensor", "comp-pressure-sensor", "comp-power-supply"),
        aliases_zh=("读数跳动", "信号不稳"),
    ),
)

FAULTS: tuple[Fault, ...] = (
    Fault(
        "E-1012",
        "Seal chamber moisture detected",
        "sym-leak",
        "comp-mech-seal",
        "worn mechanical seal faces",
        "机械密封面磨损",
        "replace the mechanical seal with the seal replacement kit and check shaft run-out",
        "使用密封更换套件更换机械密封并检查轴跳动",
    ),
    Fault(
        "E-1020",
        "Vibration above limit",
        "sym-vibration",
        "comp-bearing",
        "bearing wear from missing lubrication",
        "轴承缺油磨损",
        "replace both bearings and set the lubrication interval to 2,000 hours",
        "更换两个轴承并将润滑周期设为2000小时",
    ),
    Fault(
        "E-1021",
        "Impeller imbalance",
        "sym-vibration",
        "comp-impeller",
        "deposits on the impeller",
        "叶轮结垢",
        "clean and rebalance the impeller",
        "清洗叶轮并重新做动平衡",
    ),
    Fault(
        "E-2040",
        "Discharge temperature high",
        "sym-overheat",
        "comp-oil-separator",
        "clogged oil separator element",
        "油分离器滤芯堵塞",
        "replace the oil separator element and the oil filter",
        "更换油分离器滤芯和机油滤芯",
    ),
    Fault(
        "E-2041",
        "Intake restriction",
        "sym-overheat",
        "comp-filter",
        "dirty intake air filter",
        "进气滤芯脏污",
        "replace the air filter; shorten the change interval in dusty sites",
        "更换空气滤芯；粉尘环境缩短更换周期",
    ),
    Fault(
        "E-2055",
        "Outlet pressure low",
        "sym-pressure-drop",
        "comp-valve",
        "relief valve stuck open",
        "安全阀卡在开启位置",
        "clean or replace the relief valve and re-set the opening pressure",
        "清洗或更换安全阀并重新设定开启压力",
    ),
    Fault(
        "E-2060",
        "Pressure transducer fault",
        "sym-reading",
        "comp-pressure-sensor",
        "moisture in the pressure sensor connector",
        "压力传感器接头进水",
        "dry and reseal the connector; replace the sensor if the reading stays unstable",
        "干燥并重新密封接头；若读数仍不稳定则更换传感器",
    ),
    Fault(
        "E-3101",
        "DC bus overcurrent",
        "sym-trip",
        "comp-vfd",
        "acceleration ramp too short for the load",
        "加速时间过短",
        "increase the acceleration ramp to 8 s and update the inverter firmware",
        "将加速时间调至8秒并升级变频器固件",
    ),
    Fault(
        "E-3110",
        "Supply undervoltage",
        "sym-no-start",
        "comp-power-supply",
        "failed power supply unit",
        "电源模块损坏",
        "replace the power supply unit and check the mains voltage",
        "更换电源模块并检查电网电压",
    ),
    Fault(
        "E-3120",
        "Controller watchdog reset",
        "sym-display",
        "comp-control-board",
        "corrupted controller firmware",
        "控制器固件损坏",
        "reflash the controller firmware to the latest release",
        "将控制器固件刷写为最新版本",
    ),
    Fault(
        "E-4002",
        "Belt tension low",
        "sym-belt-slip",
        "comp-belt",
        "stretched drive belt",
        "传动皮带拉长",
        "re-tension or replace the drive belt",
        "重新张紧或更换传动皮带",
    ),
    Fault(
        "E-4015",
        "Roller bearing noise",
        "sym-noise",
        "comp-roller",
        "seized conveyor roller",
        "输送辊卡死",
        "replace the seized rollers and check alignment",
        "更换卡死的输送辊并检查对中",
    ),
    Fault(
        "E-4030",
        "Encoder signal loss",
        "sym-position",
        "comp-encoder",
        "loose encoder cable",
        "编码器电缆松动",
        "secure the encoder cable and recalibrate the home position",
        "固定编码器电缆并重新标定原点",
    ),
    Fault(
        "E-5001",
        "Oil carry-over detected",
        "sym-oil-carryover",
        "comp-oil-separator",
        "oil level too high",
        "油位过高",
        "drain oil to the correct level and replace the separator element",
        "放油至正确油位并更换分离器滤芯",
    ),
    Fault(
        "E-5010",
        "Sensor out of range",
        "sym-reading",
        "comp-temp-sensor",
        "broken PT100 wire",
        "PT100导线断裂",
        "replace the temperature sensor",
        "更换温度传感器",
    ),
    Fault(
        "E-1030",
        "Motor overload",
        "sym-overheat",
        "comp-motor",
        "blocked motor cooling fins",
        "电机散热片堵塞",
        "clean the cooling fins and check the motor current",
        "清洁散热片并检查电机电流",
    ),
)

TOPICS: tuple[tuple[str, str, str], ...] = (
    ("topic-maintenance", "preventive maintenance", "预防性维护"),
    ("topic-installation", "installation and commissioning", "安装调试"),
    ("topic-troubleshooting", "troubleshooting", "故障排除"),
    ("topic-firmware", "firmware and software", "固件与软件"),
    ("topic-safety", "safety", "安全"),
    ("topic-energy", "energy efficiency", "节能"),
)

PRODUCT_BY_ID = {p.id: p for p in PRODUCTS}
COMPONENT_BY_ID = {c.id: c for c in COMPONENTS}
SYMPTOM_BY_ID = {s.id: s for s in SYMPTOMS}
