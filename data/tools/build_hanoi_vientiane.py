#!/usr/bin/env python3
"""Builds data/hanoi-vientiane.ndjson from the five seed articles.

Every quote is checked to be a verbatim substring of its article, and every
amount, quantity, figure, day and month to be stated in one of its record's
quotes (or its article's date) unless the record's note says it is inferred.
`--check` builds without writing and fails if the committed file differs
(the tests run it).
"""
import json
import os
import re
import sys

SEEDS = os.path.join(os.path.dirname(__file__), "../../../shared/seeds/")
TEXT = {
    0: open(SEEDS + "000_ef51e3a3ed228c1e.txt", encoding="utf-8").read(),
    1: open(SEEDS + "001_64f919d35f204757.txt", encoding="utf-8").read(),
    2: open(SEEDS + "002_f75cf5a8c9d54bd2.txt", encoding="utf-8").read(),
    3: open(SEEDS + "003_d3780533e796809b.txt", encoding="utf-8").read(),
    4: open(SEEDS + "004_c4debd089680646e.txt", encoding="utf-8").read(),
}
ARTICLE = {
    # The article carries no headline: its lead, shortened to its first words, with the outlet.
    0: {"title": "Hà Nội và Viêng Chăn thống nhất đẩy mạnh hợp tác (TBTCO)", "published": "2025-12-02"},
    1: {"title": "Lãnh đạo hai Thủ đô Hà Nội - Viêng Chăn thống nhất đẩy mạnh hợp tác trong nhiều lĩnh vực"},
    2: {"title": "Hà Nội - Viêng Chăn: Sâu nặng nghĩa tình, đồng hành phát triển", "published": "2022-08-17"},
    3: {"title": "Mở rộng hơn nữa hợp tác giữa Hà Nội và Viêng Chăn"},
    # Its first line is a photo caption: the title is the lead, shortened.
    4: {"title": "Tổng Bí thư, Chủ tịch nước Lào Thongloun Sisoulith thăm và làm việc với Đảng bộ, chính quyền thành phố Hà Nội", "published": "2026-01-27"},
}


def src(article, quote):
    if quote not in TEXT[article]:
        sys.exit(f"not verbatim in article {article}: {quote}")
    source = dict(ARTICLE[article])
    source["quote"] = quote
    source["lang"] = "vi"
    return source


OUT = []


def ev(id_, type_, occurred, data, sources):
    OUT.append({"id": id_, "type": type_, "occurred": occurred, "data": data, "sources": sources})


def person(name, title=None):
    p = {"name": name}
    if title:
        p["title"] = title
    return p


FIRST_SEEN = "Inferred: registered as of the earliest event in the sources that names it; its founding date is not in the sources."
YEAR_2022 = ("Article 1 gives the day (4/4) but no year; the year 2022 comes from article 2: "
             "'vào đầu tháng 4/2022' and 'tháng 4/2022' for the same visit and signing.")

# Quotes used more than once.
Q_TALKS_2022 = "Trong khuôn khổ chuyến thăm và làm việc tại Lào, sáng 4/4 tại thủ đô Vientiane, Đoàn đại biểu cấp cao thành phố Hà Nội do ông Đinh Tiến Dũng, Ủy viên Bộ Chính trị, Bí thư Thành ủy Hà Nội, làm Trưởng đoàn đã có cuộc hội đàm với ông Anouphap Tounalom, Bí thư Trung ương Đảng Nhân dân Cách mạng Lào, Bí thư Thành ủy, Chủ tịch Hội đồng nhân dân Thủ đô Vientiane (Lào)."
Q_APRIL_2022 = "Trong chuyến thăm và làm việc của Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tại Viêng Chăn vào đầu tháng 4/2022, hai bên đạt sự nhất trí cao về phương hướng hợp tác và cùng nhau ký kết Biên bản thỏa thuận hợp tác giai đoạn 2022-2025 làm cơ sở cho các hoạt động hợp tác song phương cụ thể trong thời gian tới."
Q_CLAUSES_1 = "Ngoài các nội dung mang tính định hướng, điểm đột phá của Biên bản thoả thuận hợp tác lần này là một số điều khoản cụ thể, có thể triển khai ngay sau khi hoàn thành ký kết như thỏa thuận về cấp học bổng; hợp tác giữa các cơ quan chuyên môn cụ thể như: Ủy ban MTTQ Việt Nam thành phố Hà Nội và Ủy ban Mặt trận Lào xây dựng đất nước Thủ đô Viêng Chăn; giữa Thành đoàn Hà Nội và Thành đoàn Viêng Chăn; giữa Sở Nông nghiệp và Phát triển nông thôn thành phố Hà Nội và Sở Nông nghiệp - Lâm nghiệp Thủ đô Viêng Chăn; giữa Trường đào tạo cán bộ Lê Hồng Phong (Hà Nội) và Trường Chính trị - Hành chính Thủ đô Viêng Chăn; giữa Sở Lao động, Thương binh và Xã hội thành phố Hà Nội và Sở Lao động, Phúc lợi và Xã hội Thủ đô Viêng Chăn."
Q_PLEDGE = "Thể hiện rõ tinh thần tương trợ và đồng hành phát triển giữa hai bên, Thủ đô Hà Nội sẽ hỗ trợ Thủ đô Viêng Chăn 3 triệu USD để xây dựng trụ sở Sở Tư pháp và Viện Kiểm sát Thủ đô Viêng Chăn."
Q_PROJECTS_2022 = "Hà Nội đã dành sự nỗ lực cao nhất để đồng hành, hỗ trợ Viêng Chăn xây dựng nhiều công trình và dự án có ý nghĩa xã hội sâu sắc, là biểu tượng cho quan hệ tốt đẹp của hai thủ đô, như: Trường Chính trị - Hành chính thủ đô Viêng Chăn, Nhà Truyền thống Bộ Chỉ huy quân sự thủ đô Viêng Chăn, dự án hợp tác hỗ trợ phát triển nông nghiệp."
Q_MOU_ACTIVITIES = "Trên cơ sở Biên bản ghi nhớ hợp tác, các đơn vị liên quan của hai Thủ đô đã chủ động, tích cực, phối hợp chặt chẽ để triển khai nhiều hoạt động cụ thể, tiêu biểu, như: Trao đổi đoàn cấp cao và cơ sở, mở rộng các hình thức hợp tác hỗ trợ phát triển nông nghiệp; giao lưu chia sẻ kinh nghiệm xây dựng Viện Nghiên cứu và Phát triển kinh tế - xã hội thủ đô Viêng Chăn; Thủ đô Hà Nội hỗ trợ xây dựng Nhà Truyền thống Bộ Chỉ huy quân sự Thủ đô Viêng Chăn, cấp học bổng cho học sinh, hỗ trợ đào tạo cán bộ, sinh viên của thủ đô Viêng Chăn sang học tập."
Q_COVID = "Thành phố Hà Nội cũng đã gửi tặng Thủ đô Viêng Chăn 30.000 khẩu trang y tế; 10.000 bộ kit test xét nghiệm phát hiện kháng nguyên SARS-CoV-2 và 40.000 USD; hỗ trợ 8 tỉnh phía Bắc Lào mỗi tỉnh 20.000 USD."
Q_COVID_VT = "Đảng bộ, chính quyền và nhân dân Thủ đô Viêng Chăn đã hỗ trợ Hà Nội 15.000 USD để phục vụ cho công tác phòng, chống dịch."
Q_VISIT_2023 = "Chuyến thăm và làm việc tại Lào của Đoàn đại biểu thành phố Hà Nội diễn ra từ ngày 22 đến ngày 24/11/2023 nhằm tiếp tục thúc đẩy triển khai nội dung Biên bản thỏa thuận hợp tác giữa Đảng bộ, Chính quyền Thủ đô Hà Nội và Đảng bộ, chính quyền Thủ đô Viêng Chăn giai đoạn 2022-2025; hưởng ứng và thúc đẩy hợp tác giữa Hà Nội và Viêng Chăn thông qua tham dự sự kiện xúc tiến do phía nước bạn tổ chức."
Q_REVIEW_2023 = "Đồng thời rà soát tiến độ Dự án xây dựng Trụ sở Tư pháp và Viện kiểm sát Thủ đô Viêng Chăn do Hà Nội hỗ trợ kinh phí xây dựng và sẵn sàng chuẩn bị cho các hoạt động đối ngoại cấp cao của hai bên trong thời gian tới."
Q_QUYEN_2023 = "Chiều 22/11, tại cuộc thăm và làm việc với đồng chí Athsaphangthong Siphandone, Ủy viên Trung ương Đảng, Phó Bí thư Thành ủy, Đô trưởng Thủ đô Viêng Chăn, Phó Chủ tịch UBND Thành phố Nguyễn Mạnh Quyền nhấn mạnh, Việt Nam - Lào là hai nước láng giềng gần gũi, có truyền thống bang giao hòa hiếu, gắn bó mật thiết với nhau trong suốt chiều dài lịch sử dựng nước và giữ nước của hai dân tộc."
Q_FAIR_2023 = "Năm nay, Hội chợ diễn ra từ ngày 23-27/11 với quy mô 1.500 gian hàng của Lào và doanh nghiệp 4 nước: Việt Nam, Trung quốc, Campuchia, Thái lan. Tại Lễ hội, khu gian hàng Hà Nội có diện tích 96m2 (tương đương 8 gian), quy tụ sản phẩm trưng bày của 16 doanh nghiệp Hà Nội trong các lĩnh vực: Thủ công mỹ nghệ, dệt may, nông sản thực phẩm, hàng tiêu dùng."
Q_TRADE_2023 = "Phó Chủ tịch UBND thành phố Hà Nội cho biết, nhận lời mời của đồng chí Đô trưởng, năm nay là năm thứ 2 liên tiếp Hà Nội tổ chức hoạt động xúc tiến thương mại, tham dự triển lãm hàng hóa nhân dịp Lễ hội Thạt Luổng và Khai mạc Năm Du lịch Lào 2024; đồng thời phối hợp với thủ đô Viêng Chăn tổ chức Hội nghị kết nối giao thương giữa doanh nghiệp Hà Nội và doanh nghiệp Lào."
Q_TALKS_2025 = "Theo thông tin từ Thành ủy Hà Nội, trong khuôn khổ chuyến thăm cấp Nhà nước của Tổng Bí thư Tô Lâm cùng Đoàn đại biểu cấp cao Việt Nam tới Cộng hòa Dân chủ Nhân dân Lào và dự Lễ kỷ niệm 50 năm Quốc khánh nước Cộng hòa Dân chủ Nhân dân Lào, chiều ngày 2/12/2025, Ủy viên Bộ Chính trị, Bí thư Thành ủy Hà Nội Nguyễn Duy Ngọc đã có cuộc hội đàm với Bí thư Trung ương Đảng, Bí thư Thành ủy, Chủ tịch Hội đồng Nhân dân Thủ đô Viêng Chăn Anouphap Tounalom."
Q_2027 = "Về phương hướng hợp tác trong thời gian tới, hai bên thống nhất đẩy mạnh hợp tác trong công tác xây dựng Đảng, xây dựng hệ thống chính trị; đẩy mạnh các chương trình đào tạo cán bộ, hợp tác giáo dục - đào tạo; triển khai các dự án hỗ trợ phát triển kinh tế của Thủ đô Viêng Chăn; đặc biệt, thúc đẩy hợp tác về kinh tế, thương mại; tổ chức các hoạt động kết nối đầu tư, thương mại, du lịch, giao lưu văn hóa, giao lưu nhân dân nhân dịp kỷ niệm 65 năm Ngày thiết lập quan hệ ngoại giao, 50 năm Ngày ký Hiệp ước Hữu nghị và Hợp tác Việt Nam - Lào trong Năm Đoàn kết Hữu nghị Việt Nam - Lào 2027."
Q_AGREEMENTS_2025 = "Thủ đô Viêng Chăn và Thủ đô Hà Nội đã cùng nhau tổ chức thực hiện nhiều hoạt động, dự án và chương trình hợp tác hiệu quả; đẩy mạnh trao đổi đoàn cấp cao lãnh đạo thành phố thường niên, cụ thể hóa các nội dung hợp tác chiến lược với 2 thỏa thuận cấp thành phố và 8 thỏa thuận cấp sở ban ngành được ký kết trong các lĩnh vực, như: xây dựng Đảng, kinh tế, đầu tư, nông nghiệp, y tế, giáo dục, giao lưu nhân dân…"
Q_THONGLOUN = "Sáng 27/1, Tổng Bí thư Ban Chấp hành Trung ương Đảng Nhân dân Cách mạng Lào, Chủ tịch nước Cộng hòa Dân chủ Nhân dân Lào Thongloun Sisoulith dẫn đầu Đoàn đại biểu cấp cao thăm và làm việc với Đảng bộ, chính quyền thành phố Hà Nội."
Q_NGOC_2026 = "Ủy viên Bộ chính trị, Bí thư Thành ủy Hà Nội Nguyễn Duy Ngọc chủ trì lễ đón và làm việc. Cùng dự có Ủy viên Bộ Chính trị, Bộ trưởng Bộ Ngoại giao Việt Nam Lê Hoài Trung."
Q_26_1 = "Trên tinh thần đoàn kết, hữu nghị của Đảng và nhân dân hai nước, thành phố Hà Nội và Thủ đô Vientiane sẽ cụ thể hóa các hoạt động, tăng cường liên kết kinh tế và hợp tác trên mọi lĩnh vực, hướng tới mục tiêu phát triển, trở thành hình mẫu như Tổng Bí thư Tô Lâm và Tổng Bí thư, Chủ tịch nước Lào Thongloun Sisoulith đã nhấn mạnh tại buổi hội đàm ngày 26/1."
Q_NGUYEN_BA_HUNG = "Tham gia hội đàm có đại diện Ban Đối ngoại T.Ư; Đại sứ Việt Nam tại Lào Nguyễn Bá Hùng; các Ủy viên Ban Thường vụ Thành ủy Hà Nội: Chủ tịch Ủy ban MTTQ Việt Nam TP Nguyễn Lan Hương, Trưởng ban Tuyên giáo Thành ủy Bùi Huyền Mai, Trưởng Ban Dân vận Thành ủy Nguyễn Doãn Toản; Phó Chủ tịch UBND TP Hà Minh Hải."
Q_MOU_20 = "Tính riêng từ năm 1998 đến nay, Hà Nội cùng các địa phương của Lào, tiêu biểu là Viêng Chăn, Luông Phrabăng đã ký kết gần 20 biên bản ghi nhớ, thỏa thuận hợp tác."
Q_STRATEGY = "Biên bản hợp tác đã bám sát các chỉ đạo của Trung ương Đảng và Nhà nước Việt Nam - Lào, cũng như Thỏa thuận Chiến lược Hợp tác giữa nước Cộng hòa xã hội chủ nghĩa Việt Nam và nước Cộng hòa dân chủ nhân dân Lào giai đoạn 2021 - 2030 và Hiệp định hợp tác song phương giữa nước Cộng hòa xã hội chủ nghĩa Việt Nam và nước Cộng hòa dân chủ nhân dân Lào giai đoạn 2021 - 2025."

# ---------------------------------------------------------------------------
# Parties

def party(pid, name, name_en, kind, country, within, occurred, sources):
    data = {"party": pid, "name": name, "name_en": name_en, "kind": kind, "country": country, "note": FIRST_SEEN}
    if within:
        data["within"] = within
    ev("party-" + pid.replace("/", "-"), "party.registered", occurred, data, sources)


party("vn", "Cộng hòa xã hội chủ nghĩa Việt Nam", "Socialist Republic of Viet Nam", "country", "VN", None, "2022-04-04", [src(1, Q_STRATEGY)])
party("la", "Cộng hòa dân chủ nhân dân Lào", "Lao People's Democratic Republic", "country", "LA", None, "2022-04-04", [src(1, Q_STRATEGY)])
party("vn/hanoi", "Thủ đô Hà Nội", "Hanoi", "city", "VN", "vn", "2022-04-04", [src(1, Q_TALKS_2022)])
party("la/vientiane", "Thủ đô Viêng Chăn", "Vientiane Capital", "city", "LA", "la", "2022-04-04", [src(1, Q_TALKS_2022)])
party("la/luang-prabang", "Luông Phrabăng", "Luang Prabang", "province", "LA", "la", "1998/2022-08-17", [src(2, Q_MOU_20)])
party("la/northern-provinces", "8 tỉnh phía Bắc Lào", "Eight northern provinces of Laos", "group", "LA", "la", "2020/2022-08-17", [src(2, Q_COVID)])
for pid, name, en, q in [
    ("vn/hanoi/fatherland-front", "Ủy ban MTTQ Việt Nam thành phố Hà Nội", "Viet Nam Fatherland Front Committee of Hanoi", Q_CLAUSES_1),
    ("vn/hanoi/youth-union", "Thành đoàn Hà Nội", "Hanoi Youth Union", Q_CLAUSES_1),
    ("vn/hanoi/agriculture-dept", "Sở Nông nghiệp và Phát triển nông thôn thành phố Hà Nội", "Hanoi Department of Agriculture and Rural Development", Q_CLAUSES_1),
    ("vn/hanoi/le-hong-phong-school", "Trường đào tạo cán bộ Lê Hồng Phong (Hà Nội)", "Le Hong Phong Cadre Training School (Hanoi)", Q_CLAUSES_1),
    ("vn/hanoi/labour-dept", "Sở Lao động, Thương binh và Xã hội thành phố Hà Nội", "Hanoi Department of Labour, Invalids and Social Affairs", Q_CLAUSES_1),
]:
    party(pid, name, en, "body", "VN", "vn/hanoi", "2022-04-04", [src(1, q)])
for pid, name, en, q in [
    ("la/vientiane/lao-front", "Ủy ban Mặt trận Lào xây dựng đất nước Thủ đô Viêng Chăn", "Lao Front for National Development Committee of Vientiane Capital", Q_CLAUSES_1),
    ("la/vientiane/youth-union", "Thành đoàn Viêng Chăn", "Vientiane Youth Union", Q_CLAUSES_1),
    ("la/vientiane/agriculture-forestry-dept", "Sở Nông nghiệp - Lâm nghiệp Thủ đô Viêng Chăn", "Vientiane Capital Department of Agriculture and Forestry", Q_CLAUSES_1),
    ("la/vientiane/political-administrative-school", "Trường Chính trị - Hành chính Thủ đô Viêng Chăn", "Vientiane Capital Political-Administrative School", Q_CLAUSES_1),
    ("la/vientiane/labour-welfare-dept", "Sở Lao động, Phúc lợi và Xã hội Thủ đô Viêng Chăn", "Vientiane Capital Department of Labour and Social Welfare", Q_CLAUSES_1),
    ("la/vientiane/justice-dept", "Sở Tư pháp Thủ đô Viêng Chăn", "Vientiane Capital Department of Justice", Q_PLEDGE),
    ("la/vientiane/prosecutors-office", "Viện Kiểm sát Thủ đô Viêng Chăn", "Vientiane Capital People's Prosecutor's Office", Q_PLEDGE),
]:
    party(pid, name, en, "body", "LA", "la/vientiane", "2022-04-04", [src(1, q)])
party("la/vientiane/military-command", "Bộ Chỉ huy quân sự Thủ đô Viêng Chăn", "Vientiane Capital Military Command", "body", "LA", "la/vientiane", "1962/2022-08-17", [src(2, Q_PROJECTS_2022)])
party("la/vientiane/socio-economic-institute", "Viện Nghiên cứu và Phát triển kinh tế - xã hội thủ đô Viêng Chăn", "Vientiane Capital Institute for Socio-Economic Research and Development", "body", "LA", "la/vientiane", "2022-04-04/2022-08-17", [src(2, Q_MOU_ACTIVITIES)])
Q_HDND = "Bên cạnh đó, Hà Nội cũng sẵn sàng chuẩn bị đón đoàn đại biểu Hội đồng nhân dân Thủ đô Viêng Chăn sang làm việc và ký kết Bản ghi nhớ hợp tác giữa Hội đồng nhân dân hai Thủ đô trong giai đoạn tới."
party("vn/hanoi/peoples-council", "Hội đồng nhân dân Thủ đô Hà Nội", "Hanoi People's Council", "body", "VN", "vn/hanoi", "2023-11-22", [src(3, Q_HDND)])
party("la/vientiane/peoples-council", "Hội đồng nhân dân Thủ đô Viêng Chăn", "Vientiane Capital People's Council", "body", "LA", "la/vientiane", "2022-04-04", [src(1, Q_TALKS_2022)])

# ---------------------------------------------------------------------------
# Before 2022: what the 2022 articles refer back to.

ev("treaty-1977-friendship-cooperation", "agreement.signed", "1977", {
    "agreement": "vn-la-treaty-friendship-cooperation-1977",
    "title": "Hiệp ước Hữu nghị và Hợp tác Việt Nam - Lào",
    "kind": "treaty", "level": "national", "parties": ["vn", "la"], "effective": "1977/..",
    "note": "Inferred: the December 2025 article plans the 50th anniversary of its signing for 2027, so it was signed in 1977. Its end, if any, is not in the sources.",
}, [src(0, Q_2027)])
ev("activity-1962-diplomatic-relations", "activity.held", "1962", {
    "category": "other", "title": "Thiết lập quan hệ ngoại giao Việt Nam - Lào", "parties": ["vn", "la"],
    "note": "Inferred: the December 2025 article plans the 65th anniversary of diplomatic relations for 2027, so they were established in 1962.",
}, [src(0, Q_2027)])
ev("activity-1998-2022-nearly-20-mous", "activity.held", "1998/2022-08-17", {
    "category": "other",
    "title": "Gần 20 biên bản ghi nhớ, thỏa thuận hợp tác giữa Hà Nội và các địa phương của Lào ký kết từ năm 1998",
    "parties": ["vn/hanoi", "la/vientiane", "la/luang-prabang"],
    "note": "The source says 'nearly 20' (gần 20) memoranda and agreements since 1998 with Lao localities, Vientiane and Luang Prabang among them; it names none of them, so no exact count or individual agreement is recorded.",
}, [src(2, Q_MOU_20)])
ev("agreement-vn-la-strategy-2021-2030", "agreement.signed", "1962/2022-04-04", {
    "agreement": "vn-la-cooperation-strategy-2021-2030",
    "title": "Thỏa thuận Chiến lược Hợp tác giữa nước Cộng hòa xã hội chủ nghĩa Việt Nam và nước Cộng hòa dân chủ nhân dân Lào giai đoạn 2021 - 2030",
    "kind": "agreement", "level": "national", "parties": ["vn", "la"], "effective": "2021/2030",
    "note": "The source names it as a basis of the April 2022 minutes; its signing date is not given, so occurred spans from diplomatic relations (1962) to the minutes.",
}, [src(1, Q_STRATEGY), src(1, Q_TALKS_2022)])
ev("agreement-vn-la-bilateral-2021-2025", "agreement.signed", "1962/2022-04-04", {
    "agreement": "vn-la-bilateral-cooperation-2021-2025",
    "title": "Hiệp định hợp tác song phương giữa nước Cộng hòa xã hội chủ nghĩa Việt Nam và nước Cộng hòa dân chủ nhân dân Lào giai đoạn 2021 - 2025",
    "kind": "agreement", "level": "national", "parties": ["vn", "la"], "effective": "2021/2025",
    "note": "The source names it as a basis of the April 2022 minutes; its signing date is not given, so occurred spans from diplomatic relations (1962) to the minutes.",
}, [src(1, Q_STRATEGY), src(1, Q_TALKS_2022)])

Q_NOV_2021 = "Bên cạnh đó, với quyết tâm triển khai nhanh chóng các thỏa thuận hợp tác song phương, thực hiện lời hứa tại cuộc hội đàm tháng 11-2021, Đoàn công tác cấp cao Thủ đô Hà Nội đã gửi tặng lãnh đạo Thủ đô Viêng Chăn bộ tài liệu về quy chế, quy định, tổ chức, hoạt động của Đảng bộ cấp thành phố để làm tài liệu tham khảo xây dựng Đảng và hệ thống chính trị."
ev("talks-2021-11-hanoi-vientiane", "activity.held", "2021-11", {
    "category": "other", "title": "Hội đàm giữa Hà Nội và Viêng Chăn tháng 11-2021", "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Only referred to: Hanoi made a promise to Vientiane at these talks. The source names no leader, host or place, so they are recorded as an activity, not as a visit (a visit needs the person who led it).",
}, [src(1, Q_NOV_2021)])

# Projects Hanoi supported, known only as of August 2022.
ev("project-vientiane-political-administrative-school", "project.launched", "1962/2022-08-17", {
    "project": "vientiane-political-administrative-school", "name": "Trường Chính trị - Hành chính thủ đô Viêng Chăn",
    "beneficiary": "la/vientiane", "funders": ["vn/hanoi"],
    "note": "The August 2022 article lists it among works Hanoi has supported building, without a date or status; occurred spans from diplomatic relations (1962) to the article.",
}, [src(2, Q_PROJECTS_2022)])
ev("project-vientiane-agriculture", "project.launched", "1962/2022-08-17", {
    "project": "vientiane-agriculture-development", "name": "Dự án hợp tác hỗ trợ phát triển nông nghiệp",
    "beneficiary": "la/vientiane", "funders": ["vn/hanoi"],
    "note": "The August 2022 article lists it among projects Hanoi has supported, without a date or status; occurred spans from diplomatic relations (1962) to the article.",
}, [src(2, Q_PROJECTS_2022)])
ev("project-vientiane-military-traditional-house", "project.launched", "1962/2022-08-17", {
    "project": "vientiane-military-command-traditional-house", "name": "Nhà Truyền thống Bộ Chỉ huy quân sự Thủ đô Viêng Chăn",
    "beneficiary": "la/vientiane/military-command", "funders": ["vn/hanoi"],
    "note": "The August 2022 article says Hanoi supports building it, without a date or status; occurred spans from diplomatic relations (1962) to the article.",
}, [src(2, Q_PROJECTS_2022), src(2, Q_MOU_ACTIVITIES)])
# The same sentence speaks of these three as done: works Hanoi "đã ... hỗ trợ
# Viêng Chăn xây dựng" (has supported Vientiane in building) that stand as
# symbols of the relationship. So each is recorded as completed by the
# article's date, over the same span as its launch: the projects view does not
# list them as outstanding.
WORK_DONE = ("Inferred from the August 2022 article: it lists this among the works and projects Hanoi 'đã ... hỗ trợ Viêng Chăn xây dựng' "
             "(has supported Vientiane in building) that are 'biểu tượng' (symbols) of the relationship, i.e. done by then; "
             "no completion date is given, so occurred spans from diplomatic relations (1962) to the article.")
for project_id, event_id, extra in [
    ("vientiane-political-administrative-school", "completed-vientiane-political-administrative-school", ""),
    ("vientiane-military-command-traditional-house", "completed-vientiane-military-command-traditional-house", ""),
    ("vientiane-agriculture-development", "completed-vientiane-agriculture-development",
     " Cooperation in agriculture goes on in other forms ('mở rộng các hình thức hợp tác hỗ trợ phát triển nông nghiệp'); that is not this project."),
]:
    ev(event_id, "project.completed", "1962/2022-08-17", {"project": project_id, "note": WORK_DONE + extra},
       [src(2, Q_PROJECTS_2022)] + ([src(2, Q_MOU_ACTIVITIES)] if extra else []))

ev("exchange-2020-2022-covid-experience", "activity.held", "2020/2022-04-04", {
    "category": "exchange", "title": "Chia sẻ kinh nghiệm phòng, chống dịch Covid-19", "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Reported at the April 2022 talks as already done; no date is given, so occurred spans the pandemic up to the talks.",
}, [src(1, "Hai bên cũng đã nhiều chia sẻ kinh nghiệm phòng, chống dịch Covid-19."), src(1, Q_TALKS_2022)])

# COVID-19 aid, during the pandemic, reported in August 2022.
COVID = "2020/2022-08-17"
COVID_NOTE = "During the COVID-19 pandemic, reported on 17 August 2022; the source gives no date, so occurred spans the pandemic up to the report."
ev("aid-covid-vientiane-to-hanoi-cash", "aid.delivered", COVID, {
    "donor": "la/vientiane", "recipient": "vn/hanoi", "amount": {"amount": "15000", "currency": "USD"},
    "purpose": "phục vụ cho công tác phòng, chống dịch Covid-19", "note": COVID_NOTE,
}, [src(2, Q_COVID_VT)])
ev("aid-covid-hanoi-to-vientiane", "aid.delivered", COVID, {
    "donor": "vn/hanoi", "recipient": "la/vientiane", "amount": {"amount": "40000", "currency": "USD"},
    "items": [
        {"item": "khẩu trang y tế", "quantity": 30000, "unit": "chiếc"},
        {"item": "bộ kit test xét nghiệm phát hiện kháng nguyên SARS-CoV-2", "quantity": 10000, "unit": "bộ"},
    ],
    "purpose": "phòng, chống dịch Covid-19", "note": COVID_NOTE + " The unit 'chiếc' (pieces) for masks is the usual Vietnamese counter; the source gives the count only.",
}, [src(2, Q_COVID)])
for i in range(1, 9):
    ev(f"aid-covid-hanoi-to-northern-lao-province-{i}", "aid.delivered", COVID, {
        "donor": "vn/hanoi", "recipient": "la/northern-provinces", "amount": {"amount": "20000", "currency": "USD"},
        "purpose": "phòng, chống dịch Covid-19",
        "note": COVID_NOTE + f" One of eight deliveries: the source says Hanoi supported 8 northern provinces of Laos with USD 20,000 each and names none of them (province {i} of 8).",
    }, [src(2, Q_COVID)])

# ---------------------------------------------------------------------------
# April 2022: Đinh Tiến Dũng in Vientiane; the 2022-2025 minutes.

ev("visit-2022-04-hanoi-vientiane", "visit.held", "2022-04-04", {
    "visit": "visit-2022-04-hanoi-vientiane", "delegation_of": "vn/hanoi", "host": "la/vientiane",
    "led_by": person("Đinh Tiến Dũng", "Ủy viên Bộ Chính trị, Bí thư Thành ủy Hà Nội"),
    "members": [
        person("Nguyễn Bá Hùng", "Đại sứ Việt Nam tại Lào"),
        person("Nguyễn Lan Hương", "Chủ tịch Ủy ban MTTQ Việt Nam TP Hà Nội"),
        person("Bùi Huyền Mai", "Trưởng ban Tuyên giáo Thành ủy Hà Nội"),
        person("Nguyễn Doãn Toản", "Trưởng Ban Dân vận Thành ủy Hà Nội"),
        person("Hà Minh Hải", "Phó Chủ tịch UBND TP Hà Nội"),
    ],
    "counterparts": [person("Anouphap Tounalom", "Bí thư Trung ương Đảng Nhân dân Cách mạng Lào, Bí thư Thành ủy, Chủ tịch Hội đồng nhân dân Thủ đô Vientiane")],
    "place": "Thủ đô Vientiane", "level": "high",
    "purpose": "Hội đàm; ký kết Biên bản thoả thuận hợp tác giai đoạn 2022-2025",
    "note": "occurred is the day of the talks. " + YEAR_2022 + " The members are those the source lists as taking part in the talks on the Vietnamese side.",
}, [src(1, Q_TALKS_2022), src(1, Q_NGUYEN_BA_HUNG), src(2, Q_APRIL_2022)])

Q_SIGNING = "Bí thư Thành ủy Hà Nội Đinh Tiến Dũng và Bí thư Thành ủy, Chủ tịch HĐND Thủ đô Viêng Chăn (Lào) Anouphap Tounalom ký kết biên bản thoả thuận hợp tác giữa Thủ đô Hà Nội và Thủ đô Viêng Chăn giai đoạn 2022-2025."
Q_PRIORITIES = "Biên bản nêu rõ nội dung chi tiết của từng lĩnh vực hợp tác được xây dựng dựa trên nhu cầu và khả năng của hai Thủ đô; các vấn đề trọng tâm phát triển và ưu tiên chia sẻ kinh nghiệm mà phía Viêng Chăn đề nghị như tài chính công, hợp tác an ninh, phòng chống ma túy, hoạt động của cơ quan dân cử, công tác xây dựng đảng và cơ chế hoạt động của Đảng bộ cấp thành phố..."
# The minutes' "specific provisions" (điều khoản cụ thể) between named bodies
# are clauses of this one document, not agreements of their own: they are
# recorded as its `provisions` (ledger-v1 section 3), in the article's order.
PROVISIONS = [
    ("Thỏa thuận về cấp học bổng", ["vn/hanoi", "la/vientiane"]),
    ("Hợp tác giữa Ủy ban MTTQ Việt Nam thành phố Hà Nội và Ủy ban Mặt trận Lào xây dựng đất nước Thủ đô Viêng Chăn", ["vn/hanoi/fatherland-front", "la/vientiane/lao-front"]),
    ("Hợp tác giữa Thành đoàn Hà Nội và Thành đoàn Viêng Chăn", ["vn/hanoi/youth-union", "la/vientiane/youth-union"]),
    ("Hợp tác giữa Sở Nông nghiệp và Phát triển nông thôn thành phố Hà Nội và Sở Nông nghiệp - Lâm nghiệp Thủ đô Viêng Chăn", ["vn/hanoi/agriculture-dept", "la/vientiane/agriculture-forestry-dept"]),
    ("Hợp tác giữa Trường đào tạo cán bộ Lê Hồng Phong (Hà Nội) và Trường Chính trị - Hành chính Thủ đô Viêng Chăn", ["vn/hanoi/le-hong-phong-school", "la/vientiane/political-administrative-school"]),
    ("Hợp tác giữa Sở Lao động, Thương binh và Xã hội thành phố Hà Nội và Sở Lao động, Phúc lợi và Xã hội Thủ đô Viêng Chăn", ["vn/hanoi/labour-dept", "la/vientiane/labour-welfare-dept"]),
]
ev("ev-2022-04-04-minutes", "agreement.signed", "2022-04-04", {
    "agreement": "hanoi-vientiane-minutes-2022-2025",
    "title": "Biên bản thoả thuận hợp tác giữa Thủ đô Hà Nội và Thủ đô Viêng Chăn giai đoạn 2022-2025",
    "kind": "minutes", "level": "city", "parties": ["vn/hanoi", "la/vientiane"],
    "signatories": [
        {"name": "Đinh Tiến Dũng", "title": "Bí thư Thành ủy Hà Nội", "party": "vn/hanoi"},
        {"name": "Anouphap Tounalom", "title": "Bí thư Thành ủy, Chủ tịch HĐND Thủ đô Viêng Chăn", "party": "la/vientiane"},
    ],
    "effective": "2022/2025",
    # The minutes' own fields, as the source says the minutes name them
    # ("Biên bản nêu rõ ..."); the leaders' wishes at the talks (chính trị,
    # đối ngoại, ...) are not the minutes' and are not recorded here.
    "fields": ["tài chính công", "hợp tác an ninh", "phòng chống ma túy", "hoạt động của cơ quan dân cử",
               "công tác xây dựng đảng", "cơ chế hoạt động của Đảng bộ cấp thành phố"],
    "provisions": [{"subject": subject, "parties": parties} for subject, parties in PROVISIONS],
    "note": "Signed at the talks of 4 April. " + YEAR_2022 + " The effective period is the one in its title (giai đoạn 2022-2025), at year precision. Its provisions are the 'điều khoản cụ thể' the source lists, to be carried out right after signing; the source does not describe any of them as a separately signed document.",
}, [src(1, Q_SIGNING), src(1, Q_PRIORITIES), src(1, Q_CLAUSES_1), src(2, Q_APRIL_2022), src(1, Q_TALKS_2022)])



ev("project-vientiane-justice-prosecutors-hq", "project.launched", "2022-04-04/2023-11-22", {
    "project": "vientiane-justice-prosecutors-hq",
    "name": "Dự án xây dựng Trụ sở Sở Tư pháp và Viện Kiểm sát Thủ đô Viêng Chăn",
    "beneficiary": "la/vientiane", "funders": ["vn/hanoi"],
    "note": "Launch date not given, so both bounds are inferred: in April 2022 the support was promised and the process was to be agreed once Vientiane had an official project plan; by 22-24 November 2023 the project's progress was being reviewed.",
}, [src(1, Q_PLEDGE), src(1, "Quy trình hỗ trợ cụ thể sẽ được hai bên thống nhất sau khi phía Viêng Chăn có kế hoạch triển khai dự án chính thức."), src(3, Q_REVIEW_2023)])
# The project comes before the pledge in the file because the pledge names it.
ev("pledge-2022-04-04-usd-3m-justice-hq", "aid.pledged", "2022-04-04", {
    "pledge": "hanoi-usd-3m-justice-hq", "donor": "vn/hanoi", "recipient": "la/vientiane",
    "amount": {"amount": "3000000", "currency": "USD"},
    "purpose": "xây dựng trụ sở Sở Tư pháp và Viện Kiểm sát Thủ đô Viêng Chăn", "project": "vientiane-justice-prosecutors-hq",
    "note": "Stated with the minutes signed at the talks of 4 April. " + YEAR_2022,
}, [src(1, Q_PLEDGE), src(2, Q_APRIL_2022), src(1, Q_TALKS_2022)])
ev("gift-2022-04-party-documents", "aid.delivered", "2022-04", {
    "donor": "vn/hanoi", "recipient": "la/vientiane",
    "items": [{"item": "bộ tài liệu về quy chế, quy định, tổ chức, hoạt động của Đảng bộ cấp thành phố", "quantity": 1, "unit": "bộ"}],
    "purpose": "làm tài liệu tham khảo xây dựng Đảng và hệ thống chính trị",
    "note": "Given by Hanoi's high-level delegation during its visit of early April 2022 (the source gives no day), fulfilling a promise made at the talks of November 2021. " + YEAR_2022 + " The quantity 1 is inferred: the source says 'bộ tài liệu' (a set of documents), with no number.",
}, [src(1, Q_NOV_2021), src(2, Q_APRIL_2022)])

ev("plan-2022-04-04-invitation-to-hanoi", "activity.held", "2022-04-04", {
    "category": "other",
    "title": "Mời lãnh đạo Thủ đô Viêng Chăn sang thăm và làm việc tại Hà Nội trong năm 2022",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "An invitation, accepted at the talks of 4 April 2022, for a visit at a suitable time in 2022 (the Vietnam-Laos Solidarity and Friendship Year); the sources do not report whether the visit took place. " + YEAR_2022,
}, [src(1, "Nhân dịp này, Bí thư Thành ủy Hà Nội Đinh Tiến Dũng đã trân trọng mời đồng chí Anouphap Tounalom và phu nhân, cùng các đồng chí lãnh đạo Thủ đô Viêng Chăn sang thăm và làm việc tại Hà Nội vào thời gian thích hợp trong năm 2022 để tiếp tục triển khai các thỏa thuận giữa hai bên và chào mừng “Năm Đoàn kết hữu nghị Việt Nam-Lào, Lào-Việt Nam 2022”."), src(1, "Đồng chí Anouphap Tounalom đã vui vẻ nhận lời."), src(1, Q_TALKS_2022)])

ev("activity-2022-scholarships-training", "activity.held", "2022-04-04/2022-08-17", {
    "category": "scholarship",
    "title": "Cấp học bổng cho học sinh, hỗ trợ đào tạo cán bộ, sinh viên của thủ đô Viêng Chăn sang học tập",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Carried out on the basis of the 2022-2025 minutes, as reported on 17 August 2022; no figures are given. The lower bound is inferred: the minutes were signed on 4 April 2022.",
}, [src(2, Q_MOU_ACTIVITIES)])
ev("exchange-2022-delegations", "activity.held", "2022-04-04/2022-08-17", {
    "category": "exchange",
    "title": "Trao đổi đoàn cấp cao và cơ sở",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Carried out on the basis of the 2022-2025 minutes, as reported on 17 August 2022; the source names no delegation or date. The lower bound is inferred: the minutes were signed on 4 April 2022.",
}, [src(2, Q_MOU_ACTIVITIES)])
ev("activity-2022-agriculture-support", "activity.held", "2022-04-04/2022-08-17", {
    "category": "other",
    "title": "Mở rộng các hình thức hợp tác hỗ trợ phát triển nông nghiệp",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Carried out on the basis of the 2022-2025 minutes, as reported on 17 August 2022; the source gives no forms, figures or dates. The lower bound is inferred: the minutes were signed on 4 April 2022.",
}, [src(2, Q_MOU_ACTIVITIES)])
ev("exchange-2022-socio-economic-institute", "activity.held", "2022-04-04/2022-08-17", {
    "category": "exchange",
    "title": "Giao lưu chia sẻ kinh nghiệm xây dựng Viện Nghiên cứu và Phát triển kinh tế - xã hội thủ đô Viêng Chăn",
    "parties": ["vn/hanoi", "la/vientiane/socio-economic-institute"],
    "note": "Carried out on the basis of the 2022-2025 minutes, as reported on 17 August 2022. The lower bound is inferred: the minutes were signed on 4 April 2022.",
}, [src(2, Q_MOU_ACTIVITIES)])

# ---------------------------------------------------------------------------
# November 2023: Nguyễn Mạnh Quyền in Vientiane; That Luang fair.

ev("trade-fair-2022-that-luang", "activity.held", "2022", {
    "category": "trade_fair",
    "title": "Hà Nội tổ chức hoạt động xúc tiến thương mại, tham dự triển lãm hàng hóa nhân dịp Lễ hội Thạt Luổng 2022",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Inferred: the November 2023 article says 2023 is the second consecutive year Hanoi did this, so it also happened in 2022; the source gives no details of 2022.",
}, [src(3, Q_TRADE_2023)])
ev("visit-2023-11-hanoi-vientiane", "visit.held", "2023-11-22/2023-11-24", {
    "visit": "visit-2023-11-hanoi-vientiane", "delegation_of": "vn/hanoi", "host": "la/vientiane",
    "led_by": person("Nguyễn Mạnh Quyền", "Phó Chủ tịch UBND Thành phố Hà Nội"),
    "counterparts": [person("Athsaphangthong Siphandone", "Ủy viên Trung ương Đảng, Phó Bí thư Thành ủy, Đô trưởng Thủ đô Viêng Chăn")],
    "place": "Lào", "level": "city",
    "purpose": "Thúc đẩy triển khai Biên bản thỏa thuận hợp tác giai đoạn 2022-2025; tham dự sự kiện xúc tiến thương mại (Hội chợ Thạt Luổng, khai mạc Năm Du lịch Lào 2024); rà soát tiến độ Dự án xây dựng Trụ sở Tư pháp và Viện kiểm sát Thủ đô Viêng Chăn",
    "note": "The source does not call him head of the delegation; he is the Hanoi leader it names holding the talks of 22 November.",
}, [src(3, Q_VISIT_2023), src(3, Q_QUYEN_2023)])
ev("progress-2023-11-justice-hq-review", "project.progress", "2023-11-22/2023-11-24", {
    "project": "vientiane-justice-prosecutors-hq", "status": "reviewed",
    "note": "Hanoi's delegation reviewed the project's progress during its visit of 22-24 November 2023; the source gives no percentage or finding.",
}, [src(3, Q_REVIEW_2023), src(3, "Đoàn công tác rà soát tiến độ Dự án xây dựng Trụ sở Tư pháp và Viện kiểm sát Thủ đô Viêng Chăn do Hà Nội hỗ trợ kinh phí xây dựng."), src(3, Q_VISIT_2023)])
ev("trade-fair-2023-that-luang", "activity.held", "2023-11-23/2023-11-27", {
    "category": "trade_fair", "title": "Hội chợ Thạt Luổng 2023 (Lễ hội Thạt Luổng năm 2023)",
    "parties": ["la/vientiane", "vn/hanoi"],
    "figures": {"fair_booths": 1500, "foreign_countries": 4, "hanoi_booths": 8, "hanoi_area_m2": 96, "hanoi_enterprises": 16},
    "note": "fair_booths: the fair's 1,500 booths of Laos and of enterprises of 4 countries (Việt Nam, Trung Quốc, Campuchia, Thái Lan); hanoi_*: Hanoi's pavilion (96 m2, equal to 8 booths) with the products of 16 Hanoi enterprises in handicrafts, textiles and garments, agricultural and food products, and consumer goods (thủ công mỹ nghệ, dệt may, nông sản thực phẩm, hàng tiêu dùng).",
}, [src(3, Q_FAIR_2023), src(3, "Nằm trong khuôn khổ chuyến thăm và làm việc tại Lào, Đoàn đại biểu thành phố Hà Nội sẽ dự khai mạc chính thức Năm Du lịch Lào 2024 và Hội chợ Thạt Luổng nhân dịp Lễ hội Thạt Luổng năm 2023.")])
ev("opening-2023-11-visit-laos-year-2024", "activity.held", "2023-11-22/2023-11-24", {
    "category": "other",
    "title": "Khai mạc chính thức Năm Du lịch Lào 2024",
    "parties": ["la", "vn/hanoi"],
    "note": "Hanoi's delegation was to attend ('sẽ dự') the official opening within its visit of 22-24 November 2023; the source gives the opening no day and does not report the attendance itself.",
}, [src(3, "Nằm trong khuôn khổ chuyến thăm và làm việc tại Lào, Đoàn đại biểu thành phố Hà Nội sẽ dự khai mạc chính thức Năm Du lịch Lào 2024 và Hội chợ Thạt Luổng nhân dịp Lễ hội Thạt Luổng năm 2023."), src(3, Q_VISIT_2023)])
ev("forum-2023-business-matching", "activity.held", "2023", {
    "category": "forum", "title": "Hội nghị kết nối giao thương giữa doanh nghiệp Hà Nội và doanh nghiệp Lào",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Said in November 2023 to be organised this year with Vientiane; the source gives no date.",
}, [src(3, Q_TRADE_2023)])
ev("plan-2023-11-22-peoples-councils-mou", "activity.held", "2023-11-22/2023-11-24", {
    "category": "other",
    "title": "Hà Nội sẵn sàng đón đoàn HĐND Thủ đô Viêng Chăn và ký kết Bản ghi nhớ hợp tác giữa Hội đồng nhân dân hai Thủ đô",
    "parties": ["vn/hanoi/peoples-council", "la/vientiane/peoples-council"],
    "note": "An announced plan, stated during the visit of 22-24 November 2023 ('diễn ra từ ngày 22 đến ngày 24/11/2023'); the report gives the statement no day of its own, so occurred is the visit's span. This records the announcement, not a signing; no signing of this MoU is reported in the sources.",
}, [src(3, Q_HDND), src(3, Q_VISIT_2023)])

# ---------------------------------------------------------------------------
# 2022-2025 in summary, as reported in December 2025.

ev("activity-2022-2025-city-and-department-agreements", "activity.held", "2022/2025-12-02", {
    "category": "other",
    "title": "Thỏa thuận cấp thành phố và cấp sở ban ngành ký kết trong khuôn khổ Biên bản ghi nhớ hợp tác giai đoạn 2022 - 2025",
    "parties": ["vn/hanoi", "la/vientiane"],
    "figures": {"city_level_agreements": 2, "department_level_agreements": 8},
    "note": "Counts as reported on 2 December 2025, in fields such as Party building, economy, investment, agriculture, health, education and people-to-people exchange; the agreements themselves are not named, so they are not recorded one by one.",
}, [src(0, Q_AGREEMENTS_2025)])
ev("exchange-2022-2025-annual-high-level-delegations", "activity.held", "2022/2025-12-02", {
    "category": "exchange",
    "title": "Đẩy mạnh trao đổi đoàn cấp cao lãnh đạo thành phố thường niên",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "Reported on 2 December 2025 as done under the 2022-2025 memorandum: the two capitals exchange high-level city delegations every year. The delegations the sources describe are recorded as visits; this records the practice.",
}, [src(0, Q_AGREEMENTS_2025)])
ev("appraisal-2025-12-02-minutes-2022-2025", "activity.held", "2025-12-02", {
    "category": "other",
    "title": "Lãnh đạo hai Thủ đô đánh giá cao những kết quả hợp tác đã đạt được trên cơ sở triển khai Biên bản ghi nhớ hợp tác giai đoạn 2022 - 2025",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "The appraisal of the 2022-2025 memorandum at the talks of the afternoon of 2 December 2025 ('chiều ngày 2/12/2025'); the source gives no figures beyond the agreements counted elsewhere.",
}, [src(0, "Lãnh đạo hai Thủ đô đánh giá cao những kết quả hợp tác đã đạt được trên cơ sở triển khai Biên bản ghi nhớ hợp tác giai đoạn 2022 - 2025."), src(0, Q_TALKS_2025)])
ev("activity-2022-2025-education-training", "activity.held", "2022/2025-12-02", {
    "category": "training",
    "title": "Hợp tác giáo dục, hỗ trợ học bổng, đào tạo cán bộ, đào tạo nghề, nông nghiệp, y tế; tọa đàm chia sẻ kinh nghiệm, diễn đàn hợp tác đầu tư",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "A summary of 2022-2025 cooperation as reported on 2 December 2025; no figures or dates are given.",
}, [src(0, "Các hoạt động hợp tác giáo dục, hỗ trợ học bổng, đào tạo cán bộ, đào tạo nghề, nông nghiệp, y tế; triển khai nhiều hình thức sôi nổi như tọa đàm chia sẻ kinh nghiệm, diễn đàn hợp tác đầu tư được hai bên phối hợp tổ chức đem lại hiệu quả thiết thực về nhiều mặt, phản ánh tính toàn diện, thực chất, hỗ trợ, hợp tác cùng phát triển giữa hai Thủ đô Hà Nội và Viêng Chăn.")])

# ---------------------------------------------------------------------------
# December 2025: Tô Lâm's state visit; Nguyễn Duy Ngọc and Anouphap Tounalom.

ev("visit-2025-12-vietnam-laos-state", "visit.held", "2025-12", {
    "visit": "visit-2025-12-vietnam-laos-state", "delegation_of": "vn", "host": "la",
    "led_by": person("Tô Lâm", "Tổng Bí thư"),
    "place": "Cộng hòa Dân chủ Nhân dân Lào", "level": "state",
    "purpose": "Chuyến thăm cấp Nhà nước; dự Lễ kỷ niệm 50 năm Quốc khánh nước Cộng hòa Dân chủ Nhân dân Lào",
    "note": "The source places the Hanoi-Vientiane talks of 2 December 2025 within this state visit and gives no other dates, so occurred is the month.",
}, [src(0, Q_TALKS_2025)])
ev("visit-2025-12-02-hanoi-vientiane", "visit.held", "2025-12-02", {
    "visit": "visit-2025-12-02-hanoi-vientiane", "delegation_of": "vn/hanoi", "host": "la/vientiane",
    "led_by": person("Nguyễn Duy Ngọc", "Ủy viên Bộ Chính trị, Bí thư Thành ủy Hà Nội"),
    "counterparts": [person("Anouphap Tounalom", "Bí thư Trung ương Đảng, Bí thư Thành ủy, Chủ tịch Hội đồng Nhân dân Thủ đô Viêng Chăn")],
    "level": "high",
    "purpose": "Hội đàm trong khuôn khổ chuyến thăm cấp Nhà nước của Tổng Bí thư Tô Lâm; thống nhất phương hướng hợp tác thời gian tới",
    "note": "occurred is the day of the talks (chiều ngày 2/12/2025). The source does not name the place of the talks.",
}, [src(0, Q_TALKS_2025), src(0, "Phát biểu tại hội đàm, Bí thư Trung ương Đảng, Bí thư Thành ủy, Chủ tịch Hội đồng Nhân dân Thủ đô Viêng Chăn Anouphap Tounalom bày tỏ vui mừng đón tiếp đoàn đại biểu cấp cao Thủ đô Hà Nội đúng vào thời điểm Lào đang tổ chức hoạt động chính trị trọng đại kỷ niệm 50 năm Quốc khánh nước Cộng hòa Dân chủ Nhân dân Lào; nhấn mạnh chuyến thăm một lần nữa thể hiện tình cảm gắn bó, thân thiết giữa hai Thủ đô.")])
ev("award-2025-order-of-development-hanoi", "award.conferred", "1962/2025-12-02", {
    "award": "Huân chương Phát triển", "class": "hạng II", "by": "la", "to": "vn/hanoi",
    "note": "Inferred: the source reports the ceremony conferring the Order of Development, second class, on Hanoi 'for its positive contributions to cooperation between the two capitals' without naming the conferring authority or the day; the Order is a Lao decoration, so 'by' is Laos. The sentence is a photo caption in the report of the talks of 2 December 2025, which does not say when the ceremony was held: occurred runs from diplomatic relations (1962) to the report's date.",
}, [src(0, "Lễ trao Huân chương Phát triển hạng II dành cho thành phố Hà Nội vì những đóng góp tích cực cho sự phát triển hợp tác giữa hai Thủ đô - Hà Nội và Viêng Chăn.")])
ev("plan-2025-12-02-anniversaries-2027", "activity.held", "2025-12-02", {
    "category": "other",
    "title": "Thống nhất tổ chức hoạt động kết nối đầu tư, thương mại, du lịch, giao lưu văn hóa, giao lưu nhân dân nhân dịp 65 năm quan hệ ngoại giao, 50 năm Hiệp ước Hữu nghị và Hợp tác Việt Nam - Lào (Năm Đoàn kết Hữu nghị Việt Nam - Lào 2027)",
    "parties": ["vn/hanoi", "la/vientiane"],
    "note": "An announced plan, agreed at the talks of 2 December 2025: this records the agreement; the activities themselves are for 2027 and are not yet reported.",
}, [src(0, Q_2027)])

# ---------------------------------------------------------------------------
# January 2026: Thongloun Sisoulith in Vietnam and in Hanoi.

ev("visit-2026-01-26-general-secretaries-talks", "visit.held", "2026-01-26", {
    "visit": "visit-2026-01-laos-vietnam-high-level", "delegation_of": "la", "host": "vn",
    "led_by": person("Thongloun Sisoulith", "Tổng Bí thư Ban Chấp hành Trung ương Đảng Nhân dân Cách mạng Lào, Chủ tịch nước Cộng hòa Dân chủ Nhân dân Lào"),
    "counterparts": [person("Tô Lâm", "Tổng Bí thư")],
    "level": "high",
    "purpose": "Hội đàm giữa hai Tổng Bí thư",
    "note": "Only referred to, in the report of the 27 January visit to Hanoi. That the talks were held in Vietnam during the Lao delegation's visit is inferred from that report; the source names no place. The level is 'high': the source calls the Lao delegation 'Đoàn đại biểu cấp cao' (a high-level delegation); it does not call the visit a state visit.",
}, [src(4, Q_26_1), src(4, Q_THONGLOUN)])
ev("visit-2026-01-27-thongloun-hanoi", "visit.held", "2026-01-27", {
    "visit": "visit-2026-01-27-thongloun-hanoi", "delegation_of": "la", "host": "vn/hanoi",
    "led_by": person("Thongloun Sisoulith", "Tổng Bí thư Ban Chấp hành Trung ương Đảng Nhân dân Cách mạng Lào, Chủ tịch nước Cộng hòa Dân chủ Nhân dân Lào"),
    "counterparts": [
        person("Nguyễn Duy Ngọc", "Ủy viên Bộ chính trị, Bí thư Thành ủy Hà Nội"),
        person("Lê Hoài Trung", "Ủy viên Bộ Chính trị, Bộ trưởng Bộ Ngoại giao Việt Nam"),
    ],
    "place": "Hà Nội", "level": "high",
    "purpose": "Thăm và làm việc với Đảng bộ, chính quyền thành phố Hà Nội",
    "note": "The level is 'high': the source calls the Lao delegation 'Đoàn đại biểu cấp cao' (a high-level delegation); it does not call the visit a state visit.",
}, [src(4, Q_THONGLOUN), src(4, Q_NGOC_2026)])
ev("proposal-2026-01-27-model-cooperation", "activity.held", "2026-01-27", {
    "category": "other",
    "title": "Đề nghị hai bên tăng cường các chương trình hợp tác trên mọi lĩnh vực, để Hà Nội và Vientiane trở thành hình mẫu",
    "parties": ["la", "vn/hanoi", "la/vientiane"],
    "note": "Proposed by Thongloun Sisoulith at the working session in Hanoi on the morning of 27 January ('Sáng 27/1'); the report adds that the two capitals will make their activities concrete and strengthen economic links. This records the proposal, not its outcome.",
}, [src(4, "Tổng Bí thư, Chủ tịch nước Thongloun Sisoulith chúc tình hữu nghị giữa Thủ đô Hà Nội và Vientiane ngày càng phát triển; đề nghị hai bên tăng cường các chương trình hợp tác trên mọi lĩnh vực, để Hà Nội và Vientiane trở thành hình mẫu trong thực hiện nội dung này."), src(4, "Trên tinh thần đoàn kết, hữu nghị của Đảng và nhân dân hai nước, thành phố Hà Nội và Thủ đô Vientiane sẽ cụ thể hóa các hoạt động, tăng cường liên kết kinh tế và hợp tác trên mọi lĩnh vực, hướng tới mục tiêu phát triển, trở thành hình mẫu như Tổng Bí thư Tô Lâm và Tổng Bí thư, Chủ tịch nước Lào Thongloun Sisoulith đã nhấn mạnh tại buổi hội đàm ngày 26/1."), src(4, Q_THONGLOUN)])
ev("exhibition-2026-01-27-craft-villages", "activity.held", "2026-01-27", {
    "category": "exhibition",
    "title": "Thăm không gian trưng bày các sản phẩm thủ công mỹ nghệ làng nghề truyền thống của Hà Nội",
    "parties": ["vn/hanoi", "la"],
    "note": "Visited by the Lao delegation during its visit to Hanoi. The day is inferred: the source places it 'Trong khuôn khổ chuyến thăm' (within the visit), which it dates 'Sáng 27/1'; it gives the exhibition no date of its own.",
}, [src(4, "Trong khuôn khổ chuyến thăm, Tổng Bí thư Ban chấp hành Trung ương Đảng nhân dân cách mạng Lào, Chủ Tịch nước Cộng hòa dân chủ Nhân dân Lào Thongluon Sinsoulith cùng Đoàn đã thăm không gian trưng bày các sản phẩm thủ công mỹ nghệ làng nghề truyền thống của Hà Nội.")])

# ---------------------------------------------------------------------------
# Mechanical checks: a value that can be compared with the quotes (amounts,
# quantities, figures, days and months) must be found in one of the record's
# quotes, unless its note says it is inferred. Look-alike letters (article 2
# has small capitals such as U+1D04 inside words) never match digits or '/',
# so they cannot make a number appear or disappear here.

UNITS = {"triệu": 10**6, "nghìn": 10**3, "ngàn": 10**3, "tỷ": 10**9}


def numbers_in(text):
    """Every number a Vietnamese text states: "1.500" is 1500 (the dot groups
    thousands), "3 triệu" is 3000000."""
    found = set()
    for m in re.finditer(r"(?<![\d.])(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?(?:\s*(triệu|nghìn|ngàn|tỷ))?", text):
        whole = int(m.group(1).replace(".", ""))
        fraction = m.group(2)
        value = whole + (int(fraction) / 10 ** len(fraction) if fraction else 0)
        found.add(value * UNITS.get(m.group(3), 1) if m.group(3) else value)
        found.add(whole)
    return found


def days_in(text):
    """(day, month) pairs a text states: "4/4", "22 đến ngày 24/11", "ngày 4 tháng 4"."""
    pairs = set()
    for m in re.finditer(r"(?<!\d)(?=(\d{1,2})\s*[/-]\s*(\d{1,2})(?!\d))", text):
        pairs.add((int(m.group(1)), int(m.group(2))))
    for m in re.finditer(r"(?<!\d)(?=(\d{1,2})\s*(?:đến|-|–)\s*(?:ngày\s+)?(\d{1,2})\s*/\s*(\d{1,2}))", text):
        pairs.add((int(m.group(1)), int(m.group(3))))
    for m in re.finditer(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})", text):
        pairs.add((int(m.group(1)), int(m.group(2))))
    return pairs


def months_in(text):
    months = {m for _, m in days_in(text)}
    months |= {int(m.group(1)) for m in re.finditer(r"tháng\s*(\d{1,2})", text)}
    months |= {int(m.group(1)) for m in re.finditer(r"(?<![\d/])(\d{1,2})\s*[/-]\s*(?:19|20)\d{2}", text)}
    return months


def check_values(event):
    data = event["data"]
    note = data.get("note") or ""
    if "nferred" in note:
        return []
    quotes = " ".join(source["quote"] for source in event["sources"])
    # An article's own date counts as stated: "reported on" bounds use it.
    quotes += " " + " ".join(f"{int(d[8:10])}/{int(d[5:7])}" for d in (src.get("published") for src in event["sources"]) if d)
    numbers, problems = numbers_in(quotes), []
    values = []
    for key in ("amount",):
        if data.get(key):
            values.append((f"data.{key}", float(data[key]["amount"])))
    for i, item in enumerate(data.get("items") or []):
        values.append((f"data.items[{i}].quantity", item["quantity"]))
    for name, value in (data.get("figures") or {}).items():
        values.append((f"data.figures.{name}", value))
    for field, value in values:
        if value not in numbers:
            problems.append(f"{field} = {value} is in none of its quotes")
    for end in event["occurred"].split("/"):
        parts = end.split("-")
        if len(parts) == 3 and (int(parts[2]), int(parts[1])) not in days_in(quotes):
            problems.append(f"occurred: day {int(parts[2])}/{int(parts[1])} is in none of its quotes")
        elif len(parts) == 2 and int(parts[1]) not in months_in(quotes):
            problems.append(f"occurred: month {int(parts[1])} is in none of its quotes")
    return problems


PROBLEMS = [f"{event['id']}: {problem}" for event in OUT for problem in check_values(event)]
if PROBLEMS:
    sys.exit("values not found in their quotes (quote them, or say in the note what is inferred):\n  " + "\n  ".join(PROBLEMS))

TARGET = os.path.join(os.path.dirname(__file__), "../hanoi-vientiane.ndjson")
TEXT_OUT = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in OUT)
if "--check" in sys.argv:
    # For the tests: the committed file is exactly what this script builds.
    with open(TARGET, encoding="utf-8") as f:
        if f.read() != TEXT_OUT:
            sys.exit(f"{TARGET} is not what this script builds: run it and commit the result")
    print(len(OUT), "events, as committed")
else:
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(TEXT_OUT)
    print(len(OUT), "events")
