# Bảng điều khiển của tỉnh (Quietcount): tiếng Việt (ngôn ngữ mặc định). Mọi khóa ở đây cũng có trong en.ftl.

nav-grid = Tình hình báo cáo
nav-sites = Cơ sở
nav-conflicts = Xung đột
nav-period = Kỳ báo cáo
nav-totals = Tổng hợp
nav-audit = Nhật ký
nav-logout = Đăng xuất

action-continue = Tiếp tục
action-show = Xem

login-title = Đăng nhập
login-locked = Phiên làm việc đã tự khóa sau một thời gian không hoạt động. Hãy đăng nhập lại để tiếp tục.
login-name = Tên tài khoản
login-password = Mật khẩu
login-submit = Đăng nhập
login-hint = Tài khoản do người quản trị tạo bằng lệnh quietcount-coordinator user add. Sau mỗi lần nhập sai, lần tiếp theo phải chờ lâu hơn một chút.
login-refused = Tên hoặc mật khẩu không đúng. Hãy kiểm tra và thử lại.

role-viewer = người xem
role-manager = người quản lý

error-heading = Không thực hiện được
error-csrf = Biểu mẫu này đã hết hạn hoặc không đến từ bảng điều khiển. Hãy quay lại, tải lại trang và thử lại.
error-bad-request = Yêu cầu này không do bảng điều khiển gửi. Hãy quay lại và dùng các nút trên trang.
error-managers-only = Chỉ người quản lý mới được làm việc này. Tài khoản của bạn chỉ được xem.
done-heading = Đã xong

grid-title = Tình hình báo cáo
grid-site = Cơ sở
grid-reporting = Tỷ lệ báo cáo
grid-on-time = Tỷ lệ đúng hạn
grid-cell-detail = lần { $revision }, { $when }
grid-empty = Chưa có cơ sở nào được đăng ký.
grid-rates-hint = Tỷ lệ báo cáo = số báo cáo đã nhận ÷ số báo cáo phải có; tỷ lệ đúng hạn = số báo cáo nhận đúng hạn ÷ số báo cáo phải có (như trong DHIS2).
grid-remind-heading = Cơ sở cần nhắc cho kỳ { $period }
grid-remind-none = Mọi cơ sở phải báo cáo đã gửi báo cáo.
grid-remind-text = Kính gửi { $site }: Sở chưa nhận được báo cáo tháng { $period } của đơn vị. Đề nghị đơn vị mở Quietcount, duyệt và gửi báo cáo sớm nhất có thể. Nếu gặp khó khăn, xin liên hệ với cán bộ phụ trách của tỉnh. Trân trọng cảm ơn.

state-on-time = Đúng hạn
state-late = Muộn
state-missing = Thiếu
state-conflict = Xung đột
state-not-expected = Không yêu cầu

sites-title = Cơ sở
site-title = Cơ sở
sites-name = Tên
sites-fingerprint = Dấu vân tay khóa
sites-window = Thời gian hiệu lực
sites-enrol = Đăng ký cơ sở
sites-fingerprint-read = Dấu vân tay do cơ sở đọc
sites-reports-from = Báo cáo từ kỳ (nếu không phải kỳ hiện tại)
sites-key = Khóa công khai của cơ sở (tệp .pub, dán vào đây)
sites-enrol-hint = Dấu vân tay phải trùng với dấu vân tay cơ sở đọc qua điện thoại; nếu khác, việc đăng ký bị từ chối.
sites-revoke = Thu hồi khóa
sites-reason = Lý do
sites-revoke-hint = Từ bây giờ, báo cáo ký bằng khóa này không còn được tính; báo cáo nhận trước đó vẫn hợp lệ. Để thay khóa (máy mới), hãy đăng ký khóa mới.
reason-compromised = Bị lộ
reason-lost = Bị mất
reason-site-closed = Cơ sở đóng cửa
reason-replaced = Đã thay bằng khóa mới
key-window-enrolled = đăng ký { $time }
key-window-retired = { $enrolled }, ngừng dùng { $time } (đã thay bằng khóa mới)
key-window-revoked-since = { $enrolled }, bị thu hồi từ { $since } ({ $reason }, ghi nhận { $recorded })
key-window-revoked = { $enrolled }, bị thu hồi { $time } ({ $reason })
key-window-valid-until = { $enrolled }, hiệu lực đến { $time }
viewer-hint = Tài khoản người xem chỉ được xem; người quản lý mới được đăng ký, thu hồi, xử lý xung đột và công bố.
sites-enrolled = Đã đăng ký { $site }, dấu vân tay { $fingerprint }.
sites-replaced = Khóa cũ của cơ sở đã ngừng: báo cáo đã gửi vẫn hợp lệ; từ nay chỉ nhận khóa này.
sites-revoked = Đã thu hồi khóa của { $site }: { $window }

site-enrolled = Đăng ký lần đầu
site-state = Trạng thái
site-active = Đang hoạt động
site-inactive = Không còn khóa hiệu lực
site-keys = Lịch sử khóa
site-reports = Báo cáo đã nhận (12 kỳ gần nhất)
site-no-reports = Chưa nhận báo cáo nào trong 12 kỳ gần nhất.
site-period = Kỳ
site-form = Mẫu báo cáo
site-revision = Lần
site-received = Nhận lúc
site-hash = Mã báo cáo
site-receipt = Biên nhận
site-changes = Thay đổi so với lần trước
site-first-revision = Lần gửi đầu tiên
site-changed-records = Cơ sở cho biết { $count } hồ sơ khách hàng đã thay đổi.
site-changed-records-unstated = Cơ sở không nêu số hồ sơ đã thay đổi.
site-changed-cells = { $count } ô thay đổi giá trị
site-changed-more = … và { $count } ô khác
site-cell-number = ô số { $number }
site-cell-total = Tổng

conflicts-title = Xung đột
conflicts-none = Không có xung đột nào: không cơ sở nào ký hai báo cáo khác nhau cho cùng một lần.
conflicts-stored = Báo cáo đang lưu
conflicts-evidence = Báo cáo mâu thuẫn (bằng chứng)
conflicts-later = Thêm { $count } lần gửi mâu thuẫn sau đó
conflicts-accept = Tỉnh chấp nhận
conflicts-note = Ghi chú
conflicts-resolve = Ghi quyết định
conflicts-decided = Đã chấp nhận { $hash } — { $who }
conflicts-resolved = Đã ghi quyết định cho { $site }, kỳ { $period }.

period-title = Kỳ báo cáo
period-expected = Số cơ sở phải báo cáo
period-reported = Đã báo cáo
period-on-time = Đúng hạn
period-published-at = Công bố lần cuối
period-not-published = Chưa công bố
period-newer-heading = Có báo cáo mới hơn sau lần công bố
period-newer = { $site } đã gửi lần { $revision } sau lần công bố cuối: hãy công bố lại nếu cần.
period-download = Tải gói cho nhà tài trợ (.zip)
period-publish = Công bố
period-allow-incomplete = Công bố cả khi chưa đủ { $percent } % cơ sở báo cáo (gói sẽ ghi là chưa đầy đủ)
period-published = Đã công bố kỳ { $period }: { $sites } cơ sở đã báo cáo.
period-incomplete = CHƯA ĐẦY ĐỦ: công bố khi chưa đủ tỷ lệ cơ sở yêu cầu; gói ghi rõ điều này.

totals-title = Tổng hợp của tỉnh
totals-downloads = Tải xuống
totals-no-mapping = Chưa cấu hình tệp ánh xạ DHIS2 ([dashboard] mapping), nên chưa có tải xuống DHIS2 JSON và ADX.
totals-trend = Xu hướng 12 kỳ
totals-chart-hint = Điểm rỗng: tổng có giới hạn (một số ô bị ẩn), vẽ ở giá trị nhỏ nhất.
totals-by-site = Theo cơ sở
totals-cells = Các ô của tỉnh
totals-indicator = Chỉ số
totals-breakdown = Phân tổ
totals-value = Giá trị
totals-total = Tổng
totals-bounded = Chỉ biết khoảng giá trị
totals-bounded-hint = Ô tô xám chỉ biết khoảng giá trị (vì có ô của cơ sở bị ẩn để bảo vệ người bệnh), không phải số chính xác.

audit-title = Nhật ký thao tác
audit-empty = Chưa có thao tác nào của người quản lý.
audit-when = Lúc
audit-who = Ai
audit-action = Thao tác
audit-detail = Chi tiết
audit-enrol = Đăng ký cơ sở
audit-revoke = Thu hồi khóa
audit-resolve = Xử lý xung đột
audit-publish = Công bố
