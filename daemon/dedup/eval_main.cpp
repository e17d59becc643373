// minyi-dedup-eval: replays a CSV of messages through the same intake and journal as
// minyid (no HTTP), writes every decision, and scores the duplicate links against a label
// file: pairwise precision/recall/F1, and the links that join different people's texts.
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/crypto.hpp"
#include "core/csv.hpp"
#include "core/ids.hpp"
#include "core/timefmt.hpp"
#include "intake/intake.hpp"
#include "journal/journal.hpp"

namespace {

using Pair = std::pair<std::string, std::string>;

const char* kUsage =
    "usage: minyi-dedup-eval --messages CSV --labels CSV [options]\n"
    "  --id-col NAME          message id column (default msg_id)\n"
    "  --text-col NAME        text column (default detail)\n"
    "  --title-col NAME       title column (default subject; '' for none)\n"
    "  --time-col NAME        local time column, 'YYYY-MM-DD HH:MM:SS' (default time_iso)\n"
    "  --user-col NAME        submitter column, used as the identity (default user_id)\n"
    "  --utc-offset +HH:MM    offset of the local times (default +08:00)\n"
    "  --label-id-col NAME    id column of the label file (default msg_id)\n"
    "  --label-group-col NAME group column of the label file (default group_id)\n"
    "  --label-where COL=VAL  only label rows with this value are duplicate groups; the other\n"
    "                         labelled groups are hard negatives (default single_user_group=1)\n"
    "  --duplicate-window D   (default 365d)   --threshold X (default 0.8)\n"
    "  --cluster-labels CSV   same-issue labels: pairs in one group should share a cluster\n"
    "  --cluster-group-col N  group column there (default issue_id)\n"
    "  --cluster-none VALUE   group value meaning 'no issue' (distractors; default 0)\n"
    "  --cluster-window D     (default 365d, sliding)\n"
    "  --out FILE             decisions as CSV (default dedup-decisions.csv)\n";

std::string arg(std::map<std::string, std::string>& a, const char* k) { return a.at(k); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::set<Pair> pairs_of(const std::map<std::string, std::vector<std::string>>& groups) {
  std::set<Pair> out;
  for (const auto& [g, members] : groups)
    for (size_t i = 0; i < members.size(); ++i)
      for (size_t j = i + 1; j < members.size(); ++j) out.insert(std::minmax(members[i], members[j]));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"--messages", ""},
                                          {"--labels", ""},
                                          {"--id-col", "msg_id"},
                                          {"--text-col", "detail"},
                                          {"--title-col", "subject"},
                                          {"--time-col", "time_iso"},
                                          {"--user-col", "user_id"},
                                          {"--utc-offset", "+08:00"},
                                          {"--label-id-col", "msg_id"},
                                          {"--label-group-col", "group_id"},
                                          {"--label-where", "single_user_group=1"},
                                          {"--duplicate-window", "365d"},
                                          {"--threshold", "0.8"},
                                          {"--out", "dedup-decisions.csv"},
                                          {"--cluster-labels", ""},
                                          {"--cluster-group-col", "issue_id"},
                                          {"--cluster-none", "0"},
                                          {"--cluster-window", "365d"}};
  for (int i = 1; i < argc; i += 2) {
    if (!a.count(argv[i]) || i + 1 >= argc) {
      std::fprintf(stderr, "minyi-dedup-eval: bad argument '%s'\n%s", argv[i], kUsage);
      return 2;
    }
    a[argv[i]] = argv[i + 1];
  }
  if (a["--messages"].empty() || a["--labels"].empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  try {
    auto rows = minyi::csv::read_csv(arg(a, "--messages"));
    const auto& h = rows.at(0);
    long id_c = minyi::csv::column(h, a["--id-col"].c_str()), text_c = minyi::csv::column(h, a["--text-col"].c_str());
    long title_c = minyi::csv::column(h, a["--title-col"].c_str()),
         time_c = minyi::csv::column(h, a["--time-col"].c_str());
    long user_c = minyi::csv::column(h, a["--user-col"].c_str());
    if (id_c < 0 || text_c < 0) throw std::runtime_error("the messages file lacks the id or text column");

    struct Msg {
      std::string id, text, title, time, user;
    };
    std::vector<Msg> msgs;
    for (size_t r = 1; r < rows.size(); ++r) {
      auto get = [&](long c) { return c >= 0 && static_cast<size_t>(c) < rows[r].size() ? rows[r][c] : std::string(); };
      msgs.push_back({get(id_c), get(text_c), get(title_c), get(time_c), get(user_c)});
    }
    std::stable_sort(msgs.begin(), msgs.end(), [](const Msg& x, const Msg& y) { return x.time < y.time; });

    auto window = minyi::parse_duration_ms(a["--duplicate-window"]);
    if (!window) throw std::runtime_error("bad --duplicate-window");
    auto dir = std::filesystem::temp_directory_path() / ("minyi-dedup-eval-" + minyi::new_uuid_v7());
    std::filesystem::create_directories(dir);
    minyi::JournalOptions jo;
    jo.path = (dir / "journal.db").string();
    jo.synchronous_full = false;
    jo.dedup.enabled = true;
    jo.dedup.duplicate_window_ms = *window;
    jo.dedup.duplicate_threshold = std::stod(a["--threshold"]);
    auto cwindow = minyi::parse_duration_ms(a["--cluster-window"]);
    if (!cwindow) throw std::runtime_error("bad --cluster-window");
    jo.dedup.cluster_window_ms = *cwindow;
    minyi::Journal journal(jo);
    minyi::Intake intake(minyi::to_hex(minyi::random_bytes(32)), minyi::wall_clock_ms, true);
    const minyi::IntakeSource src{"eval", "eval", "1", "other"};
    size_t rejected = 0;
    for (const auto& m : msgs) {
      nlohmann::json d = {{"content", m.text.empty() ? std::string("(empty)") : m.text}, {"external_id", m.id}};
      if (!m.title.empty()) d["title"] = m.title;
      if (m.time.size() >= 19)
        d["submitted_at"] = m.time.substr(0, 10) + "T" + m.time.substr(11, 8) + a["--utc-offset"];
      if (!m.user.empty()) d["submitter"] = {{"wechat_openid", m.user}};
      std::string draft = d.dump();
      auto prepared = intake.prepare(src, draft, draft, "application/json");
      if (std::holds_alternative<minyi::IntakeRejection>(prepared)) {
        ++rejected;
        continue;
      }
      journal.submit(std::move(std::get<minyi::JournalRecord>(prepared)));
    }
    journal.stop();

    // Decisions back from the journal, as minyid would have stored them.
    std::map<std::string, std::string> ext_of, root_of;  // suggestion id → msg id; msg id → root msg id
    std::map<std::string, std::tuple<std::string, std::string, double, std::string>> decision;
    std::map<std::string, std::string> cluster_of;  // msg id → cluster id
    {
      std::string sql_path = jo.path;
      sqlite3* db = nullptr;
      sqlite3_open_v2(sql_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db,
                         "SELECT external_id, id, status, COALESCE(duplicate_of,''), COALESCE(dedup_score,0), "
                         "COALESCE(dedup_reason,''), COALESCE(cluster_id,'') FROM suggestions",
                         -1, &st, nullptr);
      while (sqlite3_step(st) == SQLITE_ROW) {
        auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
        ext_of[text(1)] = text(0);
        cluster_of[text(0)] = text(6);
        decision[text(0)] = {text(2), text(3), sqlite3_column_double(st, 4), text(5)};
      }
      sqlite3_finalize(st);
      sqlite3_close(db);
    }
    std::map<std::string, std::vector<std::string>> predicted;
    std::ofstream out(a["--out"]);
    out << "msg_id,status,duplicate_of_msg_id,score,reason,cluster_id\n";
    for (const auto& [msg, dec] : decision) {
      const auto& [status, dup_of, score, reason] = dec;
      std::string root = status == "duplicate" ? ext_of[dup_of] : msg;
      predicted[root].push_back(msg);
      out << csv_field(msg) << "," << status << "," << csv_field(status == "duplicate" ? root : "") << "," << score
          << "," << csv_field(reason) << "," << cluster_of[msg] << "\n";
    }

    // Labels: groups matching --label-where are duplicates; other groups are hard negatives.
    auto labels = minyi::csv::read_csv(arg(a, "--labels"));
    const auto& lh = labels.at(0);
    long lid = minyi::csv::column(lh, a["--label-id-col"].c_str()),
         lg = minyi::csv::column(lh, a["--label-group-col"].c_str());
    std::string where = a["--label-where"];
    long wcol = -1;
    std::string wval;
    if (!where.empty()) {
      auto eq = where.find('=');
      wcol = minyi::csv::column(lh, where.substr(0, eq).c_str());
      wval = where.substr(eq + 1);
    }
    if (lid < 0 || lg < 0) throw std::runtime_error("the label file lacks the id or group column");
    std::map<std::string, std::vector<std::string>> truth, negatives;
    for (size_t r = 1; r < labels.size(); ++r) {
      const auto& row = labels[r];
      if (!decision.count(row[lid])) continue;  // not among the replayed messages
      bool positive = wcol < 0 || row[wcol] == wval;
      (positive ? truth : negatives)[row[lg]].push_back(row[lid]);
    }
    auto pred_pairs = pairs_of(predicted), true_pairs = pairs_of(truth), neg_pairs = pairs_of(negatives);
    size_t tp = 0, neg_merged = 0, diff_people_diff_text = 0;
    std::map<std::string, const Msg*> by_id;
    for (const auto& m : msgs) by_id[m.id] = &m;
    for (const auto& p : pred_pairs) {
      tp += true_pairs.count(p);
      neg_merged += neg_pairs.count(p);
      const Msg* x = by_id[p.first];
      const Msg* y = by_id[p.second];
      if (x && y && x->user != y->user && !x->user.empty() && !y->user.empty() && x->text != y->text)
        ++diff_people_diff_text;
    }
    double precision = pred_pairs.empty() ? 1.0 : static_cast<double>(tp) / static_cast<double>(pred_pairs.size());
    double recall = true_pairs.empty() ? 1.0 : static_cast<double>(tp) / static_cast<double>(true_pairs.size());
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    size_t dups = 0;
    for (const auto& [m, d] : decision) dups += std::get<0>(d) == "duplicate";
    std::printf("messages: %zu replayed (%zu refused by intake), %zu linked as duplicates\n", msgs.size(), rejected,
                dups);
    std::printf("duplicate pairs: predicted %zu, labelled %zu, correct %zu\n", pred_pairs.size(), true_pairs.size(),
                tp);
    std::printf("duplicate: precision %.3f recall %.3f F1 %.3f\n", precision, recall, f1);
    std::printf("hard negatives: %zu labelled pairs, %zu merged as duplicates\n", neg_pairs.size(), neg_merged);
    std::printf("links between different people's different texts: %zu\n", diff_people_diff_text);
    if (!a["--cluster-labels"].empty()) {
      auto cl = minyi::csv::read_csv(a["--cluster-labels"]);
      long cid = minyi::csv::column(cl.at(0), a["--label-id-col"].c_str());
      long cg = minyi::csv::column(cl.at(0), a["--cluster-group-col"].c_str());
      if (cid < 0 || cg < 0) throw std::runtime_error("the cluster label file lacks the id or group column");
      std::map<std::string, std::vector<std::string>> issues, pred_clusters;
      std::vector<std::string> distractors;
      std::set<std::string> labelled;
      for (size_t r = 1; r < cl.size(); ++r) {
        const std::string& id = cl[r][cid];
        if (!decision.count(id)) continue;
        labelled.insert(id);
        if (cl[r][cg] == a["--cluster-none"])
          distractors.push_back(id);
        else
          issues[cl[r][cg]].push_back(id);
      }
      // Predicted "same cluster" among the labelled messages only.
      for (const auto& id : labelled)
        if (!cluster_of[id].empty()) pred_clusters[cluster_of[id]].push_back(id);
      auto pp = pairs_of(pred_clusters), tp_pairs = pairs_of(issues);
      size_t ok = 0;
      for (const auto& p : pp) ok += tp_pairs.count(p);
      double cp = pp.empty() ? 1.0 : static_cast<double>(ok) / static_cast<double>(pp.size());
      double cr = tp_pairs.empty() ? 1.0 : static_cast<double>(ok) / static_cast<double>(tp_pairs.size());
      double cf = cp + cr > 0 ? 2 * cp * cr / (cp + cr) : 0;
      size_t joined = 0;
      std::set<std::string> issue_clusters;
      for (const auto& [g, members] : issues)
        for (const auto& m : members) issue_clusters.insert(cluster_of[m]);
      for (const auto& dstr : distractors)
        joined += !cluster_of[dstr].empty() && issue_clusters.count(cluster_of[dstr]);
      std::printf("same cluster: precision %.3f recall %.3f F1 %.3f (%zu labelled pairs, %zu predicted)\n", cp, cr, cf,
                  tp_pairs.size(), pp.size());
      for (const auto& [g, members] : issues) {
        std::map<std::string, int> by;
        for (const auto& m : members) by[cluster_of[m].empty() ? "(none)" : cluster_of[m]]++;
        int biggest = 0;
        for (const auto& [c, n] : by) biggest = std::max(biggest, n);
        std::printf("issue %s: %zu messages in %zu cluster(s), largest holds %d\n", g.c_str(), members.size(),
                    by.size(), biggest);
      }
      std::printf("distractors in an issue's cluster: %zu of %zu\n", joined, distractors.size());
    }
    std::printf("decisions written to %s\n", a["--out"].c_str());
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minyi-dedup-eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
